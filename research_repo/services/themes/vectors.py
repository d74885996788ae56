"""Passage vectors, stored once per model: LSA (scikit-learn, fitted on the study's text) or MiniLM
sentence embeddings; every run, placement and split reads them from the database."""
from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from nlp import themes as nlp_themes

from ...models import (
    Passage, PassageVector, VectorModel,
)


LSA = "lsa"


MINILM = "minilm"


VECTOR_BATCH = 2000


def utc_now() -> datetime:
    return datetime.now(UTC)


def current_model(session: Session, kind: str = LSA) -> VectorModel | None:
    return session.scalar(select(VectorModel).where(VectorModel.kind == kind).order_by(VectorModel.id.desc()).limit(1))


@lru_cache(maxsize=4)
def _vectorizer(model_id: int, kind: str, state: bytes):
    if kind == MINILM:
        from nlp.themes.embed import MiniLMEncoder

        return MiniLMEncoder().fit()
    return nlp_themes.LsaVectorizer.from_bytes(state)


def vectorizer_for(model: VectorModel):
    return _vectorizer(model.id, model.kind, model.state)


def ensure_model(session: Session, kind: str, texts=None, random_state: int = 0) -> VectorModel:
    """The newest vector model of ``kind``, created if there is none: LSA is fitted on
    ``texts`` (a callable returning them, so they are read only when needed); MiniLM has
    nothing to fit."""
    model = current_model(session, kind)
    if model is not None:
        return model
    if kind == MINILM:
        from nlp.themes import embed

        encoder = embed.MiniLMEncoder().fit()  # fails here, with how to install it, if the extra is missing
        model = VectorModel(kind=MINILM, version=embed.VERSION, dim=encoder.dim, fitted_on=0, state=b"")
        session.add(model)
        session.flush()
        return model
    return fit_model(session, texts(), random_state=random_state)


def fit_model(session: Session, texts: list[str], random_state: int = 0) -> VectorModel:
    vectorizer = nlp_themes.LsaVectorizer(random_state=random_state).fit(texts)
    model = VectorModel(kind=LSA, version=nlp_themes.LSA_VERSION, dim=vectorizer.dim,
                        fitted_on=min(len(texts), vectorizer.fit_sample), state=vectorizer.to_bytes())
    session.add(model)
    session.flush()
    return model


def vectorize(session: Session, model: VectorModel, passage_ids: list[int], *, replace: bool = False,
              progress=None) -> int:
    """Store vectors for the passages that lack one (all given ones when ``replace``)."""
    if not passage_ids:
        return 0
    vectorizer = vectorizer_for(model)
    todo = list(passage_ids)
    if replace:
        for i in range(0, len(todo), 500):
            session.execute(delete(PassageVector).where(PassageVector.model_id == model.id,
                                                        PassageVector.passage_id.in_(todo[i:i + 500])))
    else:
        have = set()
        for i in range(0, len(todo), 500):
            have.update(session.scalars(select(PassageVector.passage_id).where(
                PassageVector.model_id == model.id, PassageVector.passage_id.in_(todo[i:i + 500]))))
        todo = [pid for pid in todo if pid not in have]
    done = 0
    for i in range(0, len(todo), VECTOR_BATCH):
        chunk = todo[i:i + VECTOR_BATCH]
        rows = session.execute(select(Passage.id, Passage.text).where(Passage.id.in_(chunk))).all()
        if not rows:
            continue
        vectors = vectorizer.transform([text for _id, text in rows])
        session.execute(insert(PassageVector), [
            {"passage_id": pid, "model_id": model.id, "vector": vec.tobytes()}
            for (pid, _text), vec in zip(rows, vectors, strict=True)])
        done += len(rows)
        if progress:
            progress(done, len(todo))
    return done


def vectorize_stored(session: Session, passage_ids: list[int], kind: str = LSA) -> int:
    """For the index writer: vectors for new or changed passages, with the current model of
    the configured kind (once a run has made one; the first run vectorizes what came before)."""
    model = current_model(session, kind)
    if model is None or not passage_ids:
        return 0
    return vectorize(session, model, passage_ids, replace=True)


def texts_and_sources(session: Session, ids: list[int]) -> tuple[list[str], list[int]]:
    """The passages' texts and source ids, in the order of ``ids``."""
    found: dict[int, tuple[str, int]] = {}
    for i in range(0, len(ids), 900):
        found.update((pid, (text, sid)) for pid, text, sid in session.execute(
            select(Passage.id, Passage.text, Passage.source_id).where(Passage.id.in_(ids[i:i + 900]))))
    return [found[pid][0] for pid in ids], [found[pid][1] for pid in ids]


def load_vectors(session: Session, model: VectorModel, passage_ids: list[int]) -> np.ndarray:
    found: dict[int, bytes] = {}
    for i in range(0, len(passage_ids), 5000):
        chunk = passage_ids[i:i + 5000]
        found.update(session.execute(select(PassageVector.passage_id, PassageVector.vector).where(
            PassageVector.model_id == model.id, PassageVector.passage_id.in_(chunk))).all())
    out = np.zeros((len(passage_ids), model.dim), dtype=np.float32)
    for row, pid in enumerate(passage_ids):
        out[row] = np.frombuffer(found[pid], dtype=np.float32)
    return out
