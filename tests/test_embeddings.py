"""The NumPy MiniLM encoder gives the vectors sentence-transformers gives for the same model
(reference written by scripts/minilm_reference.py), and themes use them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nlp.themes import ThemeModel
from nlp.themes.embed import MiniLMEncoder

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text(encoding="utf-8"))


def test_vectors_equal_the_reference_implementation():
    texts = REFERENCE["texts"]
    expected = np.array(REFERENCE["vectors"], dtype=np.float32)
    got = MiniLMEncoder().fit().transform(texts)
    assert got.shape == (len(texts), 384) and got.dtype == np.float32
    cosine = (got * expected).sum(axis=1)
    assert cosine.min() > 0.99999, cosine
    assert np.abs(got - expected).max() < 1e-5


def test_batching_by_length_does_not_change_a_vector():
    texts = REFERENCE["texts"]
    together = MiniLMEncoder(batch_tokens=512).fit().transform(texts)
    alone = np.vstack([MiniLMEncoder().fit().transform([t]) for t in texts])
    assert np.abs(together - alone).max() < 1e-5


def test_embeddings_separate_topics():
    topics = [["My interim annuity payment was late again.", "The annuity check came two months late.",
               "Retirement payments were delayed after I retired."],
              ["I can't sign in, the security code never arrives.", "Login keeps rejecting my password.",
               "The two-factor code on my phone does not work."]]
    X = MiniLMEncoder().fit().transform([t for group in topics for t in group])
    model = ThemeModel(n_themes=2, random_state=0).fit(X)
    assert len(set(model.labels_[:3])) == 1 and len(set(model.labels_[3:])) == 1
    assert model.labels_[0] != model.labels_[3]
