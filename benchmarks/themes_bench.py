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

The embedding extra (if its model is installed): MiniLM vectors by nlp.themes.embed, their
throughput on 2 cores, the same quality and identity figures, BERTopic on the same
embeddings, and with --reference, sentence-transformers (torch CPU, from
benchmarks/.st-venv: torch==2.13.0 sentence-transformers==6.2.0) encoding the same texts in
the same run, with the largest difference between the two sets of vectors.

Scale: --scale passages cut from ../shared/data/search/ubuntu_irc_passages.jsonl (turns of
about 20 words), vectorized, then clustered from the stored vectors in a fresh process that
reports its time and peak memory (VmHWM).
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
from nlp import evaldata  # noqa: E402
DATA = evaldata.root()
BERTOPIC_PY = ROOT / "benchmarks" / ".bertopic-venv" / "bin" / "python"
ST_PY = ROOT / "benchmarks" / ".st-venv" / "bin" / "python"


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


def load_banking() -> tuple[list[str], list[str]]:
    """The training queries and their intents (the intents only score)."""
    with (DATA / "themes" / "banking77" / "train.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def cold_runs(X: np.ndarray, seeds: int = 3) -> list[tuple]:
    """(model, seconds) of a cold run with k chosen automatically, for each seed."""
    from nlp.themes import ThemeModel

    out = []
    for seed in range(seeds):
        started = time.perf_counter()
        out.append((ThemeModel(random_state=seed).fit(X), time.perf_counter() - started))
    return out


def identity(X: np.ndarray) -> tuple[int, float, int, int, np.ndarray, np.ndarray]:
    """A run on 5/6 of X, then a warm run on all of it, as the app does it (previous centroids
    and each earlier passage's theme): (earlier passages, share that kept their theme, themes
    continued, themes before, the order of X in the warm run, its labels)."""
    from nlp.themes import ThemeModel, changed, match

    order = np.random.default_rng(0).permutation(len(X))
    first = order[: int(len(X) / 1.2)]
    before = ThemeModel(random_state=0).fit(X[first])
    previous = np.concatenate([before.labels_, np.full(len(X) - len(first), -1)])
    after = ThemeModel(random_state=0, init_centroids=before.centroids_, init_labels=previous).fit(X[order])
    mapping = match(before.centroids_, after.centroids_)
    moved = changed(before.labels_, after.labels_[: len(first)], mapping)
    return len(first), 1 - moved / len(first), len(mapping), before.k_, order, after.labels_


def bertopic(X: np.ndarray, texts: list[str], seeds: int) -> list[tuple[np.ndarray, float]]:
    """(labels, seconds) of BERTopic's default pipeline on X, in its own venv, for each seed."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", X)
        (Path(tmp) / "t.json").write_text(json.dumps(texts), encoding="utf-8")
        for seed in range(seeds):
            run = subprocess.run([str(BERTOPIC_PY), str(ROOT / "benchmarks" / "_bertopic_runner.py"),
                                  str(Path(tmp) / "x.npy"), str(Path(tmp) / "t.json"), str(seed)],
                                 capture_output=True, text=True, check=True)
            result = json.loads(run.stdout.strip().splitlines()[-1])
            out.append((np.array(result["labels"]), result["seconds"]))
    return out


def topics(labels: np.ndarray) -> str:
    return f"{len(set(labels) - {-1})} topics"


def banking(args) -> None:
    from sklearn.cluster import KMeans

    from nlp.themes import LsaVectorizer

    texts, gold = load_banking()
    started = time.perf_counter()
    X = LsaVectorizer(random_state=0).fit_transform(texts)
    print(f"BANKING77 train: {len(texts):,} queries, {len(set(gold))} intents; "
          f"LSA vectors in {time.perf_counter() - started:.1f} s")

    runs = cold_runs(X)
    for seed, (model, seconds) in enumerate(runs):
        print(f"  ours, k automatic, seed {seed}: k = {model.k_} ({len(set(model.parents_))} first-level groups), "
              f"{quality(gold, model.labels_)}, not yet themed {1 - model.themed_.mean():.1%}, {seconds:.1f} s")
    print(f"  ours, cold runs with 3 seeds: pairwise ARI {pairwise_ari([m.labels_ for m, _ in runs])}")
    km = [KMeans(77, n_init=1, random_state=seed).fit_predict(X) for seed in range(3)]
    print(f"  anchor, k-means with the true k = 77, seed 0: {quality(gold, km[0])}; "
          f"3 seeds pairwise ARI {pairwise_ari(km)}")

    earlier, kept, continued, before_k, order, warm = identity(X)
    print(f"  identity: {earlier:,} queries, then {len(X) - earlier:,} more (20 %): "
          f"{kept:.2%} of the earlier queries kept their theme ({continued} of {before_k} themes continued); "
          f"the warm run: {quality([gold[i] for i in order], warm)}")

    if args.bertopic and BERTOPIC_PY.exists():
        bt_runs = bertopic(X, texts, 3)
        for seed, (labels, seconds) in enumerate(bt_runs):
            print(f"  BERTopic (UMAP + HDBSCAN), same vectors, seed {seed}: {topics(labels)}, "
                  f"{quality(gold, labels)}, outliers {np.mean(labels == -1):.1%}, {seconds:.1f} s")
        print(f"  BERTopic, 3 seeds: pairwise ARI {pairwise_ari([labels for labels, _ in bt_runs])}")
    elif args.bertopic:
        print(f"  (BERTopic not measured: {BERTOPIC_PY} is missing; see the module docstring)")


def embedding(args) -> None:
    """The embedding extra: MiniLM vectors computed by nlp.themes.embed (NumPy)."""
    from sklearn.cluster import KMeans

    from nlp.themes.embed import EmbeddingsUnavailable, MiniLMEncoder

    texts, gold = load_banking()
    try:
        encoder = MiniLMEncoder().fit()
    except EmbeddingsUnavailable as exc:
        print(f"embedding extra not measured: {exc}")
        return
    started = time.perf_counter()
    X = encoder.transform(texts)
    seconds = time.perf_counter() - started
    print(f"embedding extra: all-MiniLM-L6-v2 (NumPy) on {len(texts):,} queries: {len(texts) / seconds:,.0f} "
          f"passages/s ({seconds:.1f} s)")
    longer = turns(2000)
    started = time.perf_counter()
    encoder.transform(longer)
    print(f"  on 2,000 IRC turns of about 20 words: {len(longer) / (time.perf_counter() - started):,.0f} passages/s")
    if args.reference and ST_PY.exists():
        from nlp.themes.embed import model_zip

        with tempfile.TemporaryDirectory() as tmp:
            import zipfile

            with zipfile.ZipFile(model_zip()) as archive:
                archive.extractall(Path(tmp) / "model")
            (Path(tmp) / "t.json").write_text(json.dumps(texts), encoding="utf-8")
            out = subprocess.run([str(ST_PY), str(ROOT / "benchmarks" / "_st_reference.py"), str(Path(tmp) / "model"),
                                  str(Path(tmp) / "t.json"), str(Path(tmp) / "ref.npy")],
                                 capture_output=True, text=True, check=True)
            reference = np.load(Path(tmp) / "ref.npy")
        rate = float(out.stdout.strip().splitlines()[-1])
        cosine = (X * reference).sum(axis=1)
        print(f"  reference sentence-transformers (torch CPU, 2 threads), same run: {rate:,.0f} passages/s; "
              f"ours / reference {len(texts) / seconds / rate:.2f}x; cosine to the reference: min {cosine.min():.7f}, "
              f"max abs difference {np.abs(X - reference).max():.1e}")
    runs = cold_runs(X)
    for seed, (model, seconds) in enumerate(runs):
        print(f"  ours on embeddings, k automatic, seed {seed}: k = {model.k_}, {quality(gold, model.labels_)}, "
              f"{seconds:.1f} s")
    print(f"  ours on embeddings, 3 seeds: pairwise ARI {pairwise_ari([m.labels_ for m, _ in runs])}")
    km = KMeans(77, n_init=1, random_state=0).fit_predict(X)
    print(f"  anchor, k-means on embeddings with the true k = 77: {quality(gold, km)}")
    _earlier, kept, _continued, _before_k, order, warm = identity(X)
    print(f"  identity on embeddings: {kept:.2%} of the earlier queries kept their theme; "
          f"the warm run: {quality([gold[i] for i in order], warm)}")
    if args.bertopic and BERTOPIC_PY.exists():
        labels, seconds = bertopic(X, texts, 1)[0]
        print(f"  BERTopic (UMAP + HDBSCAN) on the same embeddings, seed 0: {topics(labels)}, "
              f"{quality(gold, labels)}, outliers {np.mean(labels == -1):.1%}, {seconds:.1f} s")


def turns(count: int) -> list[str]:
    """Passages of about 20 words cut from the IRC conversations."""
    out = []
    with (DATA / "search" / "ubuntu_irc_passages.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            words = json.loads(line)["text"].split()
            out.extend(c for i in range(0, len(words), 20) if len(c := " ".join(words[i:i + 20])) > 30)
    return out[:count]


# Peak memory is VmHWM of the child: ru_maxrss would carry the parent's size over the fork.
PEAK = """
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

CLUSTER_ONLY = PEAK + """
import sys, time, json
import numpy as np
sys.path.insert(0, {root!r})
from nlp.themes import ThemeModel
X = np.load({path!r})
started = time.perf_counter()
model = ThemeModel(random_state=0).fit(X)
print(json.dumps({{"seconds": time.perf_counter() - started, "k": model.k_, "peak_mb": peak_mb()}}))
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
        baseline = subprocess.run([sys.executable, "-c", PEAK + "import numpy, sklearn.cluster; print(peak_mb())"],
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
    parser.add_argument("--no-embeddings", dest="embeddings", action="store_false")
    parser.add_argument("--reference", action="store_true",
                        help="also encode with sentence-transformers from benchmarks/.st-venv and compare")
    parser.add_argument("--only-embeddings", action="store_true")
    args = parser.parse_args()
    if args.only_embeddings:
        embedding(args)
        return
    banking(args)
    if args.embeddings:
        embedding(args)
    if args.scale:
        scale(args.scale)


if __name__ == "__main__":
    main()
