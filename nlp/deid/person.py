"""The person-name tagger: a logistic regression over hashed token features and word vectors.

Estimator-style: ``PersonTagger()`` stores parameters, ``fit`` learns from labelled token
sequences, ``find`` returns person spans. Learned weights ship in ``data/person_model.npz``
and are rebuilt with ``python -m nlp.deid.train``.

Besides the hashed features (the word, its shape, name-list ranks, word frequency, the
words around it), each token and its two neighbours contribute a linear function of a
static word vector: the mean of the word's WordPiece input embeddings in all-MiniLM-L6-v2
(Apache-2.0), reduced to 48 whitened dimensions. Words that look nothing alike but are
used alike ("krillin", "ivanka", "gunther") land near each other there. Because the model
is linear and the word vector is a mean over pieces, only three numbers per WordPiece
(its weight as the token, as the previous and as the next token) ship with the model,
with the WordPiece tokenizer; the embedding model itself is needed only for training.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
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


@dataclass(frozen=True)
class WordPieces:
    """A WordPiece tokenizer (as Hugging Face ``tokenizer.json`` text) and one row of numbers
    per vocabulary entry: the training embeddings, or the three learned weights."""

    tokenizer_json: str
    table: np.ndarray  # (vocabulary size, dimensions)

    def tokenizer(self):
        from tokenizers import Tokenizer

        return Tokenizer.from_str(self.tokenizer_json)

    def word_rows(self, words: list[str], tokenizer=None) -> np.ndarray:
        """The mean table row of each word's pieces (zeros for a word with none)."""
        tokenizer = tokenizer or self.tokenizer()
        out = np.zeros((len(words), self.table.shape[1]), dtype=np.float32)
        for i, word in enumerate(words):  # one at a time: encode_batch starts a thread pool
            ids = tokenizer.encode(word, add_special_tokens=False).ids
            if ids:
                out[i] = self.table[ids].mean(axis=0)
        return out


def _context(rows: np.ndarray) -> np.ndarray:
    """Each token's row beside its previous and next token's rows (zeros past the ends)."""
    zero = np.zeros((1, rows.shape[1]), dtype=rows.dtype)
    return np.hstack([rows, np.vstack([zero, rows[:-1]]), np.vstack([rows[1:], zero])])


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

    def __init__(self, threshold: float = 0.032, C: float = 0.25) -> None:
        self.threshold = threshold
        self.C = C

    def _hasher(self) -> FeatureHasher:
        return FeatureHasher(n_features=N_FEATURES, input_type="string", alternate_sign=False)

    def fit(self, sequences: list[list[str]], labels: list[list[int]],
            embeddings: WordPieces | None = None) -> PersonTagger:
        """Learn from token sequences and 0/1 person tags; ``embeddings`` adds word vectors."""
        X = self.design_matrix(sequences, embeddings)
        y = np.asarray([tag for _, tags in zip(sequences, labels, strict=True) for tag in tags])
        model = LogisticRegression(C=self.C, max_iter=2000, solver="liblinear").fit(X, y)
        self.adopt(model.coef_.ravel(), float(model.intercept_[0]), embeddings)
        return self

    def design_matrix(self, sequences: list[list[str]], embeddings: WordPieces | None = None):
        """One row per token: the hashed features, then (with ``embeddings``) the word vectors
        of the token and its neighbours."""
        import scipy.sparse as sp

        lex = load()
        X = self._hasher().transform([f for tokens in sequences for f in token_features(tokens, lex)])
        if embeddings is None:
            return X
        tokenizer = embeddings.tokenizer()
        dense = np.vstack([_context(embeddings.word_rows(tokens, tokenizer)) for tokens in sequences if tokens])
        return sp.hstack([X, sp.csr_matrix(dense)]).tocsr()

    def adopt(self, coef: np.ndarray, intercept: float, embeddings: WordPieces | None = None) -> np.ndarray:
        """Take learned weights laid out as ``design_matrix`` lays out columns; returns the
        weights of any columns past those (a caller's own features)."""
        self.coef_ = coef[:N_FEATURES].astype(np.float64)
        self.intercept_ = intercept
        self.pieces_, self._tokenizer, self._cache = None, None, None
        end = N_FEATURES
        if embeddings is not None:
            d = embeddings.table.shape[1]
            end += 3 * d
            weights = coef[N_FEATURES:end].reshape(3, d).T  # columns: as the token, as previous, as next
            self.pieces_ = WordPieces(embeddings.tokenizer_json, (embeddings.table @ weights).astype(np.float32))
        return coef[end:]

    def save(self, path: Path = MODEL_PATH) -> None:
        nz = np.flatnonzero(self.coef_)
        path.parent.mkdir(parents=True, exist_ok=True)
        extra = {}
        if self.pieces_ is not None:
            extra = {"piece_weights": self.pieces_.table,
                     "tokenizer": np.frombuffer(self.pieces_.tokenizer_json.encode("utf-8"), dtype=np.uint8)}
        np.savez_compressed(path, index=nz.astype(np.int32), value=self.coef_[nz].astype(np.float32),
                            intercept=self.intercept_, **extra)

    def load(self, path: Path = MODEL_PATH) -> PersonTagger:
        data = np.load(path)
        coef = np.zeros(N_FEATURES, dtype=np.float64)  # float64: the sparse product would convert per call
        coef[data["index"]] = data["value"]
        self.coef_, self.intercept_ = coef, float(data["intercept"])
        self.pieces_, self._tokenizer, self._cache = None, None, None
        if "piece_weights" in data:
            self.pieces_ = WordPieces(data["tokenizer"].tobytes().decode("utf-8"), data["piece_weights"])
        return self

    def _word_weights(self, words: list[str]) -> np.ndarray:
        """Per word: its vector's weight as the token, as the previous and as the next token."""
        if self._tokenizer is None:
            self._tokenizer = self.pieces_.tokenizer()
        cache = self._cache
        if cache is None or len(cache) > 200_000:
            cache = self._cache = {}  # a local reference: another thread may start a new one
        missing = list({w for w in words if w not in cache})
        if missing:
            for word, row in zip(missing, self.pieces_.word_rows(missing, self._tokenizer), strict=True):
                cache[word] = row
        return np.array([cache[w] for w in words])

    def token_logits(self, tokens: list[str]) -> np.ndarray:
        """Log-odds that each token is part of a name."""
        X = self._hasher().transform(token_features(tokens, load()))
        z = X @ self.coef_ + self.intercept_
        if self.pieces_ is not None:
            w = self._word_weights(tokens)
            z += w[:, 0]
            z[1:] += w[:-1, 1]
            z[:-1] += w[1:, 2]
        return z

    def token_probabilities(self, tokens: list[str]) -> np.ndarray:
        if not tokens:
            return np.zeros(0)
        return 1.0 / (1.0 + np.exp(-self.token_logits(tokens)))

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
