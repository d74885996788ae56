"""What a theme is about: distinctive terms by class-based TF-IDF, representative quotes, and
scores a reviewer can sort by (size, cohesion, distinctiveness)."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

# Role prefixes from transcripts and redaction markers are not what a theme is about.
_NOISE = re.compile(r"\[[A-Z_]+(?:_\d+)?\]|\b(?:MODERATOR|NOTE_TAKER|P\d+)\b:?")
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | {"just", "like", "really", "yeah", "ok", "okay", "um", "uh", "im",
                                           "dont", "ive", "thats", "got", "know", "think", "did", "does"})


@dataclass(frozen=True)
class ThemeScores:
    size: int
    cohesion: float  # mean cosine similarity of members to the centroid
    distinctiveness: float  # 1 - cosine similarity to the nearest other centroid


def _clean(text: str) -> str:
    return _NOISE.sub(" ", text)


def _root(term: str) -> str:
    return " ".join(w[:5] for w in term.split())


def class_terms(texts: Sequence[str], labels: np.ndarray, k: int, top: int = 10) -> list[list[str]]:
    """The ``top`` most distinctive words and two-word phrases of each theme.

    c-TF-IDF: term frequency within the theme (its passages joined), times
    log(1 + average words per theme / the term's frequency across all themes). Then
    re-ranked so one idea does not fill the list: a term that shares a word root with one
    already chosen is skipped ("payment declined" after "card declined"), except that a
    phrase replaces the single word it contains.
    """
    vectorizer = CountVectorizer(preprocessor=lambda t: _clean(t).lower(), stop_words=STOP_WORDS,
                                 ngram_range=(1, 2), min_df=2, token_pattern=r"(?u)\b[a-z][a-z'-]+\b")
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # nothing left after stop words
        return [[] for _ in range(k)]
    terms = np.array(vectorizer.get_feature_names_out())
    index = {str(t): i for i, t in enumerate(terms)}
    per_class = np.zeros((k, counts.shape[1]))
    for theme in range(k):
        rows = np.flatnonzero(labels == theme)
        if len(rows):
            per_class[theme] = np.asarray(counts[rows].sum(axis=0)).ravel()
    totals = per_class.sum(axis=0)
    words_per_class = per_class.sum() / max(k, 1)
    tf = per_class / np.maximum(per_class.sum(axis=1, keepdims=True), 1)
    weights = tf * np.log1p(words_per_class / np.maximum(totals, 1))
    out = []
    for theme in range(k):
        chosen: list[str] = []
        for j in np.argsort(-weights[theme]):
            if weights[theme, j] <= 0 or len(chosen) >= top:
                break
            term = str(terms[j])
            words = set(_root(term).split())
            overlap = [c for c in chosen if words & set(_root(c).split())]
            if overlap:
                # A phrase may replace the single word it contains ("declined" -> "card
                # declined"): more specific, same idea. Anything else sharing a root is skipped.
                if len(overlap) == 1 and " " not in overlap[0] and " " in term and \
                        weights[theme, j] >= 0.5 * weights[theme, index[overlap[0]]]:
                    chosen[chosen.index(overlap[0])] = term
                continue
            chosen.append(term)
        out.append(chosen)
    return out


def label_for(terms: Sequence[str], count: int = 3) -> str:
    return " / ".join(terms[:count]) if terms else "(no distinctive terms)"


def representative(X: np.ndarray, members: np.ndarray, centroid: np.ndarray, groups: Sequence | None = None,
                   count: int = 5, pool: int = 40, diversity: float = 0.3) -> list[int]:
    """Indices (into X) of up to ``count`` quotes: close to the centroid and unlike each other
    (maximal marginal relevance over the ``pool`` closest), at most one per group (source)."""
    if len(members) == 0:
        return []
    sims = X[members] @ centroid
    order = members[np.argsort(-sims)][:pool]
    relevance = dict(zip(order.tolist(), (X[order] @ centroid).tolist(), strict=True))
    chosen: list[int] = []
    used_groups = set()
    candidates = list(order.tolist())
    while candidates and len(chosen) < count:
        best, best_score = None, -np.inf
        for i in candidates:
            if groups is not None and groups[i] in used_groups:
                continue
            redundancy = max((float(X[i] @ X[j]) for j in chosen), default=0.0)
            score = (1 - diversity) * relevance[i] - diversity * redundancy
            if score > best_score:
                best, best_score = i, score
        if best is None:
            break
        chosen.append(best)
        candidates.remove(best)
        if groups is not None:
            used_groups.add(groups[best])
    return chosen


def scores(X: np.ndarray, labels: np.ndarray, centroids: np.ndarray) -> list[ThemeScores]:
    k = len(centroids)
    between = centroids @ centroids.T
    np.fill_diagonal(between, -1.0)
    out = []
    for theme in range(k):
        members = labels == theme
        size = int(members.sum())
        cohesion = float((X[members] @ centroids[theme]).mean()) if size else 0.0
        nearest = float(between[theme].max()) if k > 1 else 0.0
        out.append(ThemeScores(size, round(cohesion, 4), round(1 - nearest, 4)))
    return out
