"""Theme quality, identity and scale: nlp.themes against BERTopic's default pipeline, same run.

    python benchmarks/themes_bench.py [--no-bertopic] [--scale 100000]

Quality on the 10,003 training queries of ../shared/data/themes/banking77 (CC BY 4.0); the
77 gold intents are used only for scoring:

- our default: LSA vectors (nlp.themes.LsaVectorizer), k chosen automatically, 3 seeds:
  NMI, ARI and accuracy against the intents (accuracy after the best one-to-one matching of
  themes to intents), the chosen k, and the pairwise ARI of the 3 cold runs;
- the anchor on the same vectors: k-means told the true k = 77, and BERTopic 0.17 (UMAP +
  HDBSCAN, default settings) run from benchmarks/.bertopic-venv if it exists;
- identity: a run on 5/6 of the queries, then a warm run after the last 1/6 arrives (20 %
  more): the share of the earlier queries still in the continuation of their theme.

Scale: --scale passages cut from ../shared/data/search/ubuntu_irc_passages.jsonl (turns of
about 20 words), vectorized, then clustered from the stored vectors in a fresh process that
reports its time and peak memory (ru_maxrss).
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
BERTOPIC_PY = ROOT / "benchmarks" / ".bertopic-venv" / "bin" / "python"


def accuracy(gold: list[str], labels: np.ndarray) -> float:
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics.cluster import contingency_matrix

    table = contingency_matrix(gold, labels)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(gold))


def quality(gold, labels) -> str:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return (f"NMI {normalized_mutual_info_score(gold, labels):.3f}  ARI {adjusted_rand_score(gold, labels):.3f}  "
            f"accuracy {accuracy(gold, labels):.3f}")


def pairwise_ari(runs: list[np.ndarray]) -> str:
    from sklearn.metrics import adjusted_rand_score

    values = [adjusted_rand_score(a, b) for a, b in combinations(runs, 2)]
    return f"{np.mean(values):.3f} (" + ", ".join(f"{v:.3f}" for v in values) + ")"


def banking(args) -> None:
    from sklearn.cluster import KMeans

    from nlp.themes import LsaVectorizer, ThemeModel, changed, match

    rows = list(csv.DictReader((DATA / "themes" / "banking77" / "train.csv").open(encoding="utf-8")))
    texts = [r["text"] for r in rows]
    gold = [r["category"] for r in rows]
    started = time.perf_counter()
    X = LsaVectorizer(random_state=0).fit_transform(texts)
    print(f"BANKING77 train: {len(texts):,} queries, {len(set(gold))} intents; "
          f"LSA vectors in {time.perf_counter() - started:.1f} s")

    runs = []
    for seed in range(3):
        started = time.perf_counter()
        model = ThemeModel(random_state=seed).fit(X)
        runs.append(model.labels_)
        print(f"  ours, k automatic, seed {seed}: k = {model.k_} ({len(set(model.parents_))} first-level groups), "
              f"{quality(gold, model.labels_)}, not yet themed {1 - model.themed_.mean():.1%}, "
              f"{time.perf_counter() - started:.1f} s")
    print(f"  ours, cold runs with 3 seeds: pairwise ARI {pairwise_ari(runs)}")
    km = [KMeans(77, n_init=1, random_state=seed).fit_predict(X) for seed in range(3)]
    print(f"  anchor, k-means with the true k = 77, seed 0: {quality(gold, km[0])}; "
          f"3 seeds pairwise ARI {pairwise_ari(km)}")

    order = np.random.default_rng(0).permutation(len(X))
    first = order[: int(len(X) / 1.2)]
    before = ThemeModel(random_state=0).fit(X[first])
    after = ThemeModel(random_state=0, init_centroids=before.centroids_).fit(X[order])
    mapping = match(before.centroids_, after.centroids_)
    moved = changed(before.labels_, after.labels_[: len(first)], mapping)
    print(f"  identity: {len(first):,} queries, then {len(X) - len(first):,} more (20 %): "
          f"{1 - moved / len(first):.2%} of the earlier queries kept their theme "
          f"({len(mapping)} of {before.k_} themes continued)")

    if args.bertopic and BERTOPIC_PY.exists():
        with tempfile.TemporaryDirectory() as tmp:
            np.save(Path(tmp) / "x.npy", X)
            (Path(tmp) / "t.json").write_text(json.dumps(texts), encoding="utf-8")
            bt_runs = []
            for seed in range(3):
                out = subprocess.run([str(BERTOPIC_PY), str(ROOT / "benchmarks" / "_bertopic_runner.py"),
                                      str(Path(tmp) / "x.npy"), str(Path(tmp) / "t.json"), str(seed)],
                                     capture_output=True, text=True, check=True)
                result = json.loads(out.stdout.strip().splitlines()[-1])
                labels = np.array(result["labels"])
                bt_runs.append(labels)
                print(f"  BERTopic (UMAP + HDBSCAN), same vectors, seed {seed}: {len(set(labels) - {-1})} topics, "
                      f"{quality(gold, labels)}, outliers {np.mean(labels == -1):.1%}, {result['seconds']:.1f} s")
            print(f"  BERTopic, 3 seeds: pairwise ARI {pairwise_ari(bt_runs)}")
    elif args.bertopic:
        print(f"  (BERTopic not measured: {BERTOPIC_PY} is missing; see the module docstring)")


def turns(count: int) -> list[str]:
    """Passages of about 20 words cut from the IRC conversations."""
    out = []
    lines = (DATA / "search" / "ubuntu_irc_passages.jsonl").open(encoding="utf-8")
    for line in lines:
        words = json.loads(line)["text"].split()
        for i in range(0, len(words), 20):
            chunk = " ".join(words[i:i + 20])
            if len(chunk) > 30:
                out.append(chunk)
    return out[:count]


CLUSTER_ONLY = """
import resource, sys, time, json
import numpy as np
sys.path.insert(0, {root!r})
from nlp.themes import ThemeModel
X = np.load({path!r})
started = time.perf_counter()
model = ThemeModel(random_state=0).fit(X)
print(json.dumps({{"seconds": time.perf_counter() - started, "k": model.k_,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def scale(count: int) -> None:
    from nlp.themes import LsaVectorizer

    texts = turns(count)
    started = time.perf_counter()
    vectorizer = LsaVectorizer(random_state=0).fit(texts)
    fitted = time.perf_counter() - started
    started = time.perf_counter()
    X = vectorizer.transform(texts)
    rate = len(texts) / (time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "vectors.npy")
        np.save(path, X)
        baseline = subprocess.run([sys.executable, "-c", "import resource, numpy, sklearn; print("
                                   "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"],
                                  capture_output=True, text=True, check=True)
        out = subprocess.run([sys.executable, "-c", CLUSTER_ONLY.format(root=str(ROOT), path=path)],
                             capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"scale: {len(texts):,} passages; vectorizer fitted in {fitted:.1f} s, "
          f"{rate:,.0f} passages/s vectorized ({X.shape[1]} dims)")
    print(f"  {len(texts):,} stored vectors clustered, k automatic = {result['k']}: {result['seconds']:.1f} s, "
          f"peak memory {result['peak_mb']:,.0f} MB (an interpreter with numpy and scikit-learn "
          f"loaded: {float(baseline.stdout):,.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-bertopic", dest="bertopic", action="store_false")
    parser.add_argument("--scale", type=int, default=100_000, help="passages for the scale run (0: skip)")
    args = parser.parse_args()
    banking(args)
    if args.scale:
        scale(args.scale)


if __name__ == "__main__":
    main()
