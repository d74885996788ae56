"""What the costliest queries a signed-in user can type cost now, against a plain one-word
search measured in the same run (the anchor). Passages: ../shared/data/search/
ubuntu_irc_passages.jsonl (CC BY 4.0, Kummerfeld et al. 2019), via search_bench's loader.

    python benchmarks/query_cost_bench.py [--passages 20000]

Each query is run 3 times; the table gives its median time, the ratio to the anchor, and
whether it ran or was refused (with the refusal's first words). Before the limits, the security
review measured abcdefghij~9 at ~300 s, ~5 at ~9 s, *a* and text:[a TO z] at 5-9 s.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from search_bench import DATA, load_passages  # noqa: E402

from research_repo.search import QueryRejected, SearchQuery  # noqa: E402
from research_repo.search.whoosh_backend import WhooshBackend  # noqa: E402

QUERIES = ["abcdefghij~9", "abcdefghij~5", "install~5", "install~2", "instal~1", "*a*", "a*", "in*", "inst*",
           "text:[a TO z]", "text:[in TO io]", "[a TO]", "(703) 555-1130", "unknown:field install",
           '"sudo apt-get install"', " ".join(["install"] * 80)]


def timed(engine, text: str) -> tuple[float, str]:
    times, outcome = [], ""
    for _ in range(3):
        started = time.perf_counter()
        try:
            results = engine.search(SearchQuery(text=text), [1, 2, 3, 4, 5])
            outcome = f"ran, {results.total:,} hits"
        except QueryRejected as exc:
            outcome = "refused: " + exc.message[:48]
        times.append(time.perf_counter() - started)
    return statistics.median(times), outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=20_000)
    args = parser.parse_args()
    if not DATA.is_file():
        sys.exit(f"{DATA} is missing: set RESEARCH_REPO_EVAL_DATA to the directory that holds shared/data")
    with tempfile.TemporaryDirectory() as tmp:
        engine = WhooshBackend(Path(tmp) / "index")
        with engine.writer_lock():
            engine.rebuild([load_passages(args.passages)])
        anchor, _ = timed(engine, "install")
        print(f"{args.passages:,} passages; anchor (one word 'install'): {anchor * 1000:.1f} ms")
        print(f"{'query':<28} {'ms':>9} {'x anchor':>9}  outcome")
        for text in QUERIES:
            took, outcome = timed(engine, text)
            label = text if len(text) < 28 else text[:24] + "..."
            print(f"{label:<28} {took * 1000:>9.1f} {took / anchor:>9.1f}  {outcome}")


if __name__ == "__main__":
    main()
