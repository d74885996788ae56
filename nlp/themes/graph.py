"""The neighbourhood graph of passages and its spectral embedding, where themes are clustered.

k-means and Ward on the passage vectors themselves cut through topics that are curved or
uneven in size. Clustering the rows of a spectral embedding of the k-nearest-neighbour
graph instead (Ng, Jordan and Weiss, 2001) follows the neighbourhoods: measured on
BANKING77 it raised NMI from 0.62 to 0.67 on LSA vectors and from 0.80 to 0.82 on MiniLM
embeddings, with the number of themes chosen the same way (benchmarks/themes_bench.py).

Up to ``LANDMARKS`` passages the graph is exact (a blocked matrix product). Above that, a
random sample of ``LANDMARKS`` passages is embedded and every other passage takes the mean
embedding of its nearest landmarks (the out-of-sample extension of a random-walk eigenvector
is the average over the neighbours), so 100,000 passages embed in seconds.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from sklearn.manifold import spectral_embedding
from sklearn.preprocessing import normalize

LANDMARKS = 20_000
BLOCK = 2048
# LOBPCG to a residual of 1e-2 rather than ARPACK's machine precision: on BANKING77 the themes
# are as good (NMI 0.67 on LSA vectors either way) and the LSA graph, whose LU factors fill in,
# embeds in 3 s instead of 26 s.
EIGEN_TOL = 1e-2


def neighbours(X: np.ndarray, m: int) -> np.ndarray:
    """The ``m`` most similar other rows of the unit-row matrix ``X``, as an ``(n, m)`` index
    array (no particular order within a row); exact, in blocks of rows."""
    n = len(X)
    m = min(m, n - 1)
    out = np.empty((n, m), dtype=np.int64)
    for start in range(0, n, BLOCK):
        sims = X[start:start + BLOCK] @ X.T
        rows = np.arange(len(sims))
        sims[rows, start + rows] = -np.inf
        out[start:start + BLOCK] = np.argpartition(sims, -m, axis=1)[:, -m:]
    return out


def _connect(X: np.ndarray, adjacency: sparse.csr_matrix) -> sparse.csr_matrix:
    """Join every connected component to the rest of the graph by one edge to the passage most
    similar to one of its members. Islands of near-duplicates (a ticket template pasted fifty
    times) would otherwise each take a dimension of the embedding."""
    count, component = connected_components(adjacency, directed=False)
    if count == 1:
        return adjacency
    largest = np.bincount(component).argmax()
    rows, cols = [], []
    firsts = [np.flatnonzero(component == c)[0] for c in range(count) if c != largest]
    for start in range(0, len(firsts), BLOCK):
        chunk = np.array(firsts[start:start + BLOCK])
        sims = X[chunk] @ X.T
        sims[component[chunk][:, None] == component[None, :]] = -np.inf
        rows.extend(chunk.tolist())
        cols.extend(sims.argmax(axis=1).tolist())
    link = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=adjacency.shape)
    return adjacency + link + link.T


def _extend(X: np.ndarray, landmarks: np.ndarray, Z: np.ndarray, near: np.ndarray, m: int) -> np.ndarray:
    """Embeddings for the rows of ``X`` from the landmarks' (``landmarks`` rows, embedded as ``Z``,
    with neighbour lists ``near``): the mean over the ``m`` most similar of the nearest landmark
    and its neighbours. A full top-m search over 20,000 landmarks for 80,000 passages spent
    most of its time selecting, not multiplying; the nearest landmark's neighbourhood is where
    the passage's own neighbours are."""
    out = np.empty((len(X), Z.shape[1]), dtype=np.float32)
    for start in range(0, len(X), BLOCK):
        block = X[start:start + BLOCK]
        nearest = (block @ landmarks.T).argmax(axis=1)
        candidates = np.hstack([nearest[:, None], near[nearest]])
        sims = np.einsum("id,icd->ic", block, landmarks[candidates])
        top = np.take_along_axis(candidates, np.argpartition(sims, -m, axis=1)[:, -m:], axis=1)
        out[start:start + BLOCK] = Z[top].mean(axis=1)
    return out


def embed(X: np.ndarray, *, n_neighbors: int = 10, n_components: int = 50, landmarks: int = LANDMARKS,
          random_state: int | None = 0) -> np.ndarray:
    """The spectral embedding of the symmetric ``n_neighbors`` graph of ``X``: one column per
    eigenvector of the normalized graph Laplacian, smoothest first (the constant one dropped).
    Cluster the unit rows of its first columns (:func:`space`). Above ``landmarks`` passages,
    that many are embedded and the rest placed by their neighbours among them."""
    n = len(X)
    keep = np.arange(n)
    if n > landmarks:
        keep = np.sort(np.random.default_rng(random_state).choice(n, landmarks, replace=False))
    L = X[keep]
    near = neighbours(L, n_neighbors)
    rows = np.repeat(np.arange(len(L)), near.shape[1])
    graph = sparse.csr_matrix((np.ones(near.size), (rows, near.ravel())), shape=(len(L), len(L)))
    adjacency = _connect(L, ((graph + graph.T) * 0.5).tocsr())
    with warnings.catch_warnings():
        # LOBPCG reports when it stops at its iteration limit; the vectors it has are kept.
        warnings.simplefilter("ignore", UserWarning)
        Z = spectral_embedding(adjacency, n_components=min(n_components, len(L) - 2), eigen_solver="lobpcg",
                               eigen_tol=EIGEN_TOL, random_state=random_state, drop_first=True).astype(np.float32)
    if n == len(L):
        return Z
    out = np.empty((n, Z.shape[1]), dtype=np.float32)
    out[keep] = Z
    rest = np.setdiff1d(np.arange(n), keep)
    out[rest] = _extend(X[rest], L, Z, near, min(n_neighbors, near.shape[1] + 1))
    return out


def space(Z: np.ndarray, k: int) -> np.ndarray:
    """Where ``k`` themes are clustered: the unit rows of the first ``k`` columns of the
    embedding ``Z`` (Ng, Jordan and Weiss use exactly ``k``). The columns past ``k`` describe
    structure within the themes; kept, they swamp the few that separate them (BANKING77, 6
    intents: NMI 0.27 with 50 columns, 0.79 with 6)."""
    return normalize(Z[:, :max(1, min(k, Z.shape[1]))])
