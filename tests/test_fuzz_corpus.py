"""The fuzz corpus in every test run: 1,500 mutated files of every format through the readers
as an upload calls them (``benchmarks/fuzz_readers.py``, which runs 11,000 by default). Run
in its own process, so the peak memory counted is that of its reader children only."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mutated_files_get_an_answer_in_bounded_time_and_memory_and_no_mojibake():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fuzz_readers.py"), "--files", "1500",
                           "--seed", "23", "--json"], capture_output=True, text=True, timeout=900, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["tried"] == figures["accepted"] + figures["refused"] + len(figures["unhandled"]) == 1500
    assert figures["unhandled"] == [], figures["unhandled"]
    assert figures["over_10_s"] == 0, figures["slowest_s"]
    assert figures["mojibake"] == 0
    assert figures["child_peak_mb"] <= 512
    # Both outcomes occur, or the mutations were not reaching the parsers.
    assert figures["accepted"] > 100 and figures["refused"] > 100
