"""Reference sentence vectors from sentence-transformers (torch CPU), in its own venv
(benchmarks/.st-venv: torch==2.13.0, sentence-transformers==6.2.0), for the same model files.

    python _st_reference.py MODEL_DIR TEXTS.json OUT.npy  ->  prints passages/s
"""
import json
import sys
import time

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

torch.set_num_threads(2)
model = SentenceTransformer(sys.argv[1], device="cpu")
texts = json.load(open(sys.argv[2], encoding="utf-8"))
started = time.perf_counter()
vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
print(len(texts) / (time.perf_counter() - started))
np.save(sys.argv[3], vectors.astype(np.float32))
