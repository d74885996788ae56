"""Runs BERTopic's default pipeline (UMAP + HDBSCAN + c-TF-IDF) on given vectors, in the
benchmark's own venv (benchmarks/.bertopic-venv: bertopic --no-deps, umap-learn, hdbscan).

    python _bertopic_runner.py VECTORS.npy TEXTS.json SEED  ->  JSON {labels, seconds}
"""
import json
import sys
import time

import numpy as np
from bertopic import BERTopic
from umap import UMAP

vectors = np.load(sys.argv[1])
texts = json.load(open(sys.argv[2], encoding="utf-8"))
seed = int(sys.argv[3])
started = time.perf_counter()
# The default UMAP settings, with a seed so the run is repeatable.
umap = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed)
model = BERTopic(umap_model=umap, embedding_model=None, calculate_probabilities=False)
labels, _ = model.fit_transform(texts, embeddings=vectors)
print(json.dumps({"labels": [int(x) for x in labels], "seconds": time.perf_counter() - started}))
