"""The person-name tagger: a logistic regression over hashed token features.

Estimator-style: ``PersonTagger()`` stores parameters, ``fit`` learns from labelled token
sequences, ``find`` returns person spans. Learned weights ship in ``data/person_model.npz``
and are rebuilt with ``python -m nlp.deid.train``.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_extraction import FeatureHasher
from sklearn.linear_model import LogisticRegression

from .lexicon import TITLES, TOKEN, Lexicon, load
from .spans import Kind, Span

MODEL_PATH = Path(__file__).parent / "data" / "person_model.npz"
N_FEATURES = 2**20
_SHAPE = str.maketrans({**{c: "X" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
                        **{c: "x" for c in "abcdefghijklmnopqrstuvwxyz"}, **{c: "d" for c in "0123456789"}})
_BOUNDARY = frozenset(".!?\n:;\"“”()[]|>-–—•*")


def tokenize(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in TOKEN.finditer(text)]


def _shape(word: str) -> str:
    shape = word.translate(_SHAPE)
    shape = re.sub(r"[^Xxd]", "o", shape) if not word.isascii() else shape
    return re.sub(r"(.)\1+", r"\1\1", shape)[:6]


def _case(word: str) -> str:
    if word.isupper():
        return "upper"
    if word.islower():
        return "lower"
    if word[:1].isupper() and word[1:].islower():
        return "title"
    return "mixed"


def _bucket(rank: int | None, edges=(100, 1000, 5000, 20000)) -> str:
    if rank is None:
        return "none"
    for edge in edges:
        if rank <= edge:
            return str(edge)
    return "rare"


def token_features(tokens: list[str], lex: Lexicon) -> list[list[str]]:
    """Features of each token, as strings for hashing."""
    lowers = [t.lower() for t in tokens]
    facts = []
    for t, w in zip(tokens, lowers, strict=True):
        alpha = w.isalpha()
        first = lex.first_rank.get(w) if alpha else None
        last = lex.last_rank.get(w) if alpha else None
        zipf = lex.zipf_of(w) if alpha else -1.0
        facts.append((alpha, _bucket(first), _bucket(last), int(zipf) if zipf >= 0 else -1, _case(t), _shape(t)))
    out = []
    n = len(tokens)
    for i, t in enumerate(tokens):
        w = lowers[i]
        alpha, fb, lb, zb, case, shape = facts[i]
        prev = lowers[i - 1] if i else "<s>"
        prev2 = lowers[i - 2] if i > 1 else "<s>"
        nxt = lowers[i + 1] if i + 1 < n else "</s>"
        initial = i == 0 or tokens[i - 1] in _BOUNDARY or tokens[i - 1][-1:] in _BOUNDARY
        f = [
            "b", f"w={w}", f"sh={shape}", f"c={case}", f"fn={fb}", f"ln={lb}", f"z={zb}",
            f"c|z={case}|{zb}", f"c|fn|ln={case}|{fb}|{lb}", f"init={initial}", f"c|init={case}|{initial}",
            f"suf3={w[-3:]}", f"pre3={w[:3]}", f"len={min(len(t), 12)}", f"alpha={alpha}",
            f"ascii={t.isascii()}", f"p={prev}", f"n={nxt}", f"pp|p={prev2}|{prev}",
            f"ptitle={prev.rstrip('.') in TITLES}", f"pat={prev == '@'}",
        ]
        if i:
            pa, pfb, plb, pzb, pcase, _ = facts[i - 1]
            f += [f"pc={pcase}", f"pfn={pfb}", f"pln={plb}", f"pz={pzb}", f"pc|c={pcase}|{case}"]
        if i + 1 < n:
            na, nfb, nlb, nzb, ncase, _ = facts[i + 1]
            f += [f"nc={ncase}", f"nfn={nfb}", f"nln={nlb}", f"nz={nzb}", f"c|nc={case}|{ncase}",
                  f"speaker={tokens[i + 1] == ':' and initial}"]
        out.append(f)
    return out


class PersonTagger(BaseEstimator):
    """Find person names.

    Parameters
    ----------
    threshold : float
        Probability above which a token is part of a name; lower finds more names and
        more false alarms.
    C : float
        Inverse regularization strength for ``fit``.
    """

    def __init__(self, threshold: float = 0.35, C: float = 0.5) -> None:
        self.threshold = threshold
        self.C = C

    def _hasher(self) -> FeatureHasher:
        return FeatureHasher(n_features=N_FEATURES, input_type="string", alternate_sign=False)

    def fit(self, sequences: list[list[str]], labels: list[list[int]]) -> PersonTagger:
        lex = load()
        rows, y = [], []
        for tokens, tags in zip(sequences, labels, strict=True):
            rows.extend(token_features(tokens, lex))
            y.extend(tags)
        X = self._hasher().transform(rows)
        model = LogisticRegression(C=self.C, max_iter=2000, solver="liblinear")
        model.fit(X, np.asarray(y))
        self.coef_ = model.coef_.ravel().astype(np.float32)
        self.intercept_ = float(model.intercept_[0])
        return self

    def save(self, path: Path = MODEL_PATH) -> None:
        nz = np.flatnonzero(self.coef_)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, index=nz.astype(np.int32), value=self.coef_[nz], intercept=self.intercept_)

    def load(self, path: Path = MODEL_PATH) -> PersonTagger:
        data = np.load(path)
        coef = np.zeros(N_FEATURES, dtype=np.float32)
        coef[data["index"]] = data["value"]
        self.coef_, self.intercept_ = coef, float(data["intercept"])
        return self

    def token_probabilities(self, tokens: list[str]) -> np.ndarray:
        if not tokens:
            return np.zeros(0)
        X = self._hasher().transform(token_features(tokens, load()))
        return 1.0 / (1.0 + np.exp(-(X @ self.coef_ + self.intercept_)))

    def find(self, text: str) -> list[Span]:
        toks = tokenize(text)
        probs = self.token_probabilities([t for _, _, t in toks])
        spans: list[Span] = []
        run: list[int] = []
        for i, p in enumerate(probs):
            word = toks[i][2]
            if p >= self.threshold and any(ch.isalpha() for ch in word):
                # A name continues across adjacent tokens (or a hyphen/apostrophe inside it).
                if run and toks[i][0] - toks[run[-1]][1] > 1:
                    spans.append(self._span(toks, probs, run))
                    run = []
                run.append(i)
            elif run:
                spans.append(self._span(toks, probs, run))
                run = []
        if run:
            spans.append(self._span(toks, probs, run))
        return spans

    @staticmethod
    def _span(toks, probs, run) -> Span:
        return Span(toks[run[0]][0], toks[run[-1]][1], Kind.PERSON, "person_tagger", float(probs[run].mean()))
