"""Theme identity across runs: which new theme continues which old one, and how many passages
changed theme."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def match(old_centroids: np.ndarray, new_centroids: np.ndarray, min_similarity: float = 0.5) -> dict[int, int]:
    """{new theme: old theme} by Hungarian assignment on centroid cosine similarity; pairs less
    similar than ``min_similarity`` are new themes, not continuations."""
    if len(old_centroids) == 0 or len(new_centroids) == 0:
        return {}
    sims = np.asarray(new_centroids) @ np.asarray(old_centroids).T
    rows, cols = linear_sum_assignment(-sims)
    return {int(r): int(c) for r, c in zip(rows, cols, strict=True) if sims[r, c] >= min_similarity}


def changed(old_labels: np.ndarray, new_labels: np.ndarray, mapping: dict[int, int]) -> int:
    """How many passages (labelled in both runs, same order) are not in the continuation of
    their old theme."""
    continued = np.array([mapping.get(int(label), -1) for label in new_labels])
    return int((continued != np.asarray(old_labels)).sum())
