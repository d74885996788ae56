"""Clustering unit passage vectors into themes, with the number of themes chosen and explained.

A cold run has four steps:

1. the space: from ``graph_min`` (300) passages on, themes are clustered in the spectral
   embedding of the passages' 10-nearest-neighbour graph (:mod:`nlp.themes.graph`), which
   follows topics that are curved or uneven in size where straight k-means cuts run through
   them; smaller sets are clustered as they are. Centroids, similarities, quotes and the
   placement of later passages always use the vectors themselves;
2. choose k: k-means at each k of a grid on a sample, scored by the cosine silhouette, and
   twice the smallest k where the smoothed curve comes within 2 % of its best. Silhouette
   curves on short customer texts are flat near their top, so their arg-max wanders with the
   seed; and splitting a theme in two costs a reviewer one merge while a theme that mixes two
   topics hides one of them;
3. fine clusters: Ward linkage into k themes, then k-means started from them. Above
   ``max_micro`` passages, Ward links the centroids of k-means micro-clusters (about four
   passages each, at most ``max_micro``) instead of the passages. Ward on micro-centroids is
   what makes cold runs with different seeds agree;
4. a first level of at most ``max_top`` groups: Ward linkage of the theme centroids, so
   reviewers start from a manageable list and split where they need to.

A warm run starts from the previous run's themes instead and keeps each passage in its
previous theme unless another fits clearly better, so themes keep their identity as passages
arrive (see :mod:`nlp.themes.identity`). Measured figures: benchmarks/themes_bench.py.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import AgglomerativeClustering, KMeans, MiniBatchKMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import normalize

from . import graph

K_GRID = (5, 8, 10, 15, 20, 30, 40, 60, 80, 100, 130, 160, 200, 250, 300, 400)


def choose_k(X: np.ndarray, *, k_min: int = 2, k_max: int = 300, sample: int = 5000, upward: float = 2.0,
             repeats: int = 2, tolerance: float = 0.02,
             random_state: int | None = 0) -> tuple[int, list[tuple[int, float]]]:
    """The number of themes for ``X`` and the silhouette sweep behind it.

    k-means at each k of a grid on ``repeats`` samples of ``sample`` passages, scored by the
    cosine silhouette, averaged, and smoothed over neighbouring k; the smallest k where the
    curve comes within ``tolerance`` (a share of its best) of its best, times ``upward``,
    within ``[k_min, k_max]`` and at most one theme per 15 passages. Returns
    ``(k, [(k, silhouette), ...])``. The grid stops where clusters would average fewer than
    10 sampled passages.
    """
    n = len(X)
    rng = np.random.default_rng(random_state)
    top = min(k_max, max(2, min(n, sample) // 10))
    grid = [k for k in K_GRID if k_min <= k <= top] or [max(2, min(top, k_min))]
    # Two samples, averaged: one sample's curve is noisy enough near its flat top that the
    # peak (and so k) moved with the seed.
    totals: dict[int, list[float]] = {}
    for repeat in range(repeats if n > sample else 1):
        Xs = X[np.sort(rng.choice(n, min(n, sample), replace=False))]
        for k in grid:
            labels = KMeans(k, n_init=1, random_state=None if random_state is None else random_state + repeat
                            ).fit_predict(Xs)
            if len(set(labels)) >= 2:
                totals.setdefault(k, []).append(float(silhouette_score(Xs, labels, metric="cosine")))
    sweep = [(k, float(np.mean(v))) for k, v in totals.items()]
    if not sweep:
        return max(1, min(n, k_min)), []
    # Each point is one k-means on one sample: smooth over neighbouring k before choosing.
    scores = np.array([s for _, s in sweep])
    smooth = np.convolve(np.pad(scores, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    # The curve is flat near its top (on the BANKING77 spectral embedding, within 0.03 from
    # k = 80 to 300), so its arg-max wanders with the seed. The "peak" is instead where the
    # smoothed curve first reaches ``1 - tolerance`` of its best, placed between grid points by
    # linear interpolation in log k.
    level = (1 - tolerance) * smooth.max()
    i = int(np.argmax(smooth >= level))
    peak = float(sweep[i][0])
    if i > 0:
        below, above = smooth[i - 1], smooth[i]
        x0, x1 = np.log(sweep[i - 1][0]), np.log(sweep[i][0])
        peak = float(np.exp(x0 + (x1 - x0) * (level - below) / (above - below)))
    # On small sets the silhouette keeps rising as clusters shrink to near-duplicates; a
    # theme should gather at least 15 passages on average.
    return int(max(min(k_min, n), min(k_max, n // 15, round(peak * upward)))), sweep


def _ward_groups(centroids: np.ndarray, k: int) -> np.ndarray:
    if len(centroids) <= k:
        return np.arange(len(centroids))
    return AgglomerativeClustering(k, linkage="ward").fit_predict(centroids)


def _means(X: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    sums = np.zeros((k, X.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, X)
    return normalize(sums).astype(np.float32)


class ThemeModel(ClusterMixin, BaseEstimator):
    """Themes for unit vectors.

    Parameters
    ----------
    n_themes : int or None
        The number of (fine) themes; None chooses it (:func:`choose_k`).
    k_min, k_max, upward, tolerance : see :func:`choose_k`.
    max_top : int
        At most this many first-level groups.
    max_micro : int
        At most this many micro-clusters in a cold run.
    init_centroids : array or None
        A previous run's centroids: a warm run starts from them (``n_themes`` defaults to
        their number; more themes are seeded at the passages farthest from them).
    init_labels : array or None
        Each passage's theme in the previous run (an index into ``init_centroids``), -1 for
        passages it did not have.
    stickiness : float
        In a warm run, how much more similar (cosine, in the clustering space) another theme
        must be for a passage to leave its previous theme.
    warm_iter : int
        At most this many k-means iterations in a warm run.
    min_similarity : float
        Passages whose cosine similarity to their theme's centroid is below this, or far below
        the theme's other passages, are flagged "not yet themed" (``themed_`` False), not
        dropped.
    n_neighbors : int or None
        Cold and warm runs on ``graph_min`` passages or more cluster the spectral embedding of
        this many neighbours per passage (:mod:`nlp.themes.graph`); None clusters the vectors
        themselves. Centroids, similarities and predictions are always in the vector space.
    graph_min : int
    random_state : int or None

    Attributes
    ----------
    labels_, similarity_, themed_, floors_, centroids_, parents_, k_, sweep_, n_iter_
    """

    def __init__(self, n_themes: int | None = None, *, k_min: int = 5, k_max: int = 300, upward: float = 2.0,
                 tolerance: float = 0.02, max_top: int = 40, max_micro: int = 3000, init_centroids: np.ndarray | None = None,
                 init_labels: np.ndarray | None = None, stickiness: float = 0.1,
                 warm_iter: int = 10, min_similarity: float = 0.3, n_neighbors: int | None = 10,
                 graph_min: int = 300, random_state: int | None = 0) -> None:
        self.n_themes = n_themes
        self.k_min = k_min
        self.k_max = k_max
        self.upward = upward
        self.tolerance = tolerance
        self.max_top = max_top
        self.max_micro = max_micro
        self.init_centroids = init_centroids
        self.init_labels = init_labels
        self.stickiness = stickiness
        self.warm_iter = warm_iter
        self.min_similarity = min_similarity
        self.n_neighbors = n_neighbors
        self.graph_min = graph_min
        self.random_state = random_state

    def fit(self, X: np.ndarray, y=None) -> ThemeModel:
        X = normalize(np.asarray(X, dtype=np.float32))
        n = len(X)
        if n == 0:
            raise ValueError("no passages to cluster")
        self.sweep_ = []
        # Where the clustering happens: the spectral embedding of the neighbour graph, or the
        # vectors themselves for small sets.
        spectral = graph.embed(X, n_neighbors=self.n_neighbors, random_state=self.random_state) \
            if self.n_neighbors and n >= self.graph_min else None

        def space(k: int) -> np.ndarray:
            return X if spectral is None else graph.space(spectral, k)

        if self.init_centroids is not None:
            k = min(n, self.n_themes or len(self.init_centroids))
            labels = self._warm(X, space(k), k)
        else:
            if self.n_themes:
                k = min(n, self.n_themes)
            else:
                k, self.sweep_ = choose_k(space(self.k_max), k_min=self.k_min, k_max=self.k_max,
                                          upward=self.upward, tolerance=self.tolerance,
                                          random_state=self.random_state)
            Z = space(k)
            km = self._kmeans(k, self._cold_start(Z, k), n).fit(Z)
            labels, self.n_iter_ = km.labels_, int(getattr(km, "n_iter_", 0))
        self._finish(X, labels, k)
        return self

    def _warm(self, X: np.ndarray, Z: np.ndarray, k: int) -> np.ndarray:
        """Evolutionary k-means (Chakrabarti, Kumar and Tomkins, 2006): k-means in the
        clustering space started from the previous themes, where a passage that had a theme
        stays in it unless another is more similar by ``stickiness``. Without that cost a
        re-run on 20 % more passages moved 7-12 % of the earlier ones between themes (the
        neighbour graph, and so the embedding, shifts as passages arrive); themes a reviewer
        has named and tagged should not churn for so little."""
        n = len(X)
        init = normalize(np.asarray(self.init_centroids, dtype=np.float32))
        sims = X @ init.T
        previous = None if self.init_labels is None else np.asarray(self.init_labels, dtype=np.int64)
        if previous is not None and len(previous) != n:
            raise ValueError(f"init_labels has {len(previous)} entries for {n} passages")
        # Where each old theme starts: the mean of its passages (the previous run's, else the
        # passages nearest its centroid), or its nearest passage if it has none now. New themes
        # start at the passages the old ones explain worst.
        seed = previous if previous is not None else sims.argmax(axis=1)
        known = seed >= 0
        start = _means(Z[known], seed[known], len(init))
        for theme in np.setdiff1d(np.arange(len(init)), seed[known]):
            start[theme] = Z[sims[:, theme].argmax()]
        extra = np.argsort(sims.max(axis=1))[: max(0, k - len(init))]
        centroids = np.vstack([start, Z[extra]])[:k]
        bonus = np.zeros(n, dtype=np.float32)
        stay = np.zeros(n, dtype=np.int64)
        if previous is not None:
            sticky = (previous >= 0) & (previous < k)
            bonus[sticky], stay[sticky] = self.stickiness, previous[sticky]
        labels = np.full(n, -1)
        self.n_iter_ = 0
        for _ in range(self.warm_iter):
            scores = Z @ centroids.T
            scores[np.arange(n), stay] += bonus
            new = scores.argmax(axis=1)
            self.n_iter_ += 1
            if np.array_equal(new, labels):
                break
            labels = new
            moved = _means(Z, labels, k)
            empty = np.bincount(labels, minlength=k) == 0
            moved[empty] = centroids[empty]
            centroids = moved
        return labels

    def _kmeans(self, k: int, init: np.ndarray, n: int):
        if n > 50_000:
            return MiniBatchKMeans(k, init=init, n_init=1, batch_size=4096, max_iter=20,
                                   random_state=self.random_state)
        return KMeans(k, init=init, n_init=1, random_state=self.random_state)

    def _cold_start(self, X: np.ndarray, k: int) -> np.ndarray:
        n = len(X)
        if n <= self.max_micro:  # small enough for Ward on the passages themselves
            return _means(X, _ward_groups(X, k), k)
        micro = min(self.max_micro, max(k, n // 4))
        cls = KMeans if n <= 50_000 else MiniBatchKMeans
        options = {"max_iter": 30} if cls is KMeans else {"batch_size": 4096, "max_iter": 10}
        micro_km = cls(micro, n_init=1, random_state=self.random_state, **options).fit(X)
        groups = _ward_groups(micro_km.cluster_centers_, k)
        return _means(X, groups[micro_km.labels_], k)

    def _finish(self, X: np.ndarray, labels: np.ndarray, k: int) -> None:
        # Themes that lost every passage are dropped and the rest renumbered densely.
        used = np.unique(labels)
        remap = np.full(k, -1)
        remap[used] = np.arange(len(used))
        self.labels_ = remap[labels]
        self.k_ = len(used)
        self.centroids_ = _means(X, self.labels_, self.k_)
        self.similarity_ = np.einsum("ij,ij->i", X, self.centroids_[self.labels_])
        # "Not yet themed": below the absolute floor, or a robust outlier within its theme
        # (more than 3 scaled median absolute deviations below the theme's median). The
        # per-theme floors are kept so passages placed later are judged the same way.
        self.floors_ = np.full(self.k_, self.min_similarity, dtype=np.float64)
        for theme in range(self.k_):
            sims = self.similarity_[self.labels_ == theme]
            median = np.median(sims)
            mad = 1.4826 * np.median(np.abs(sims - median))
            if mad > 0:
                self.floors_[theme] = max(self.min_similarity, median - 3 * mad)
        self.themed_ = self.similarity_ >= self.floors_[self.labels_]
        self.parents_ = _ward_groups(self.centroids_, self.max_top) if self.k_ > self.max_top else np.arange(self.k_)

    def predict_with_similarity(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest theme and the cosine similarity to it, for new passages."""
        X = normalize(np.asarray(X, dtype=np.float32))
        sims = X @ self.centroids_.T
        labels = sims.argmax(axis=1)
        return labels, sims[np.arange(len(X)), labels]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_with_similarity(X)[0]
