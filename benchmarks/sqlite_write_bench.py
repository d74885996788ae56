"""Concurrent read-then-write transactions on SQLite: our write sessions (BEGIN IMMEDIATE)
against the anchor, deferred transactions that retry when SQLite says the database is
locked, measured in the same run.

    python benchmarks/sqlite_write_bench.py [--threads 8] [--transactions 200]

Each transaction reads the next position for a source and inserts a row there, the shape
of appending passages or audit events. A lost update shows up as a duplicate position.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from research_repo.db import Database  # noqa: E402


def run(mode: str, threads: int, transactions: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.sqlite3")
        with db.writing() as s:
            s.execute(text("CREATE TABLE item (source_id INTEGER, position INTEGER, body TEXT)"))
        factory = db.write_session if mode == "immediate" else db.read_session
        latencies: list[float] = []
        counters = {"retries": 0, "failed": 0}
        lock = threading.Lock()

        def worker(source_id: int) -> None:
            for _ in range(transactions):
                started = time.perf_counter()
                for attempt in range(50):
                    session = factory()
                    try:
                        n = session.execute(
                            text("SELECT coalesce(max(position), -1) + 1 FROM item WHERE source_id = :s"),
                            {"s": source_id % 2},
                        ).scalar_one()
                        session.execute(
                            text("INSERT INTO item VALUES (:s, :n, :b)"), {"s": source_id % 2, "n": n, "b": "x" * 200}
                        )
                        session.commit()
                        break
                    except OperationalError:
                        session.rollback()
                        with lock:
                            counters["retries"] += 1
                        time.sleep(0.001 * (attempt + 1))
                    finally:
                        session.close()
                else:
                    with lock:
                        counters["failed"] += 1
                with lock:
                    latencies.append(time.perf_counter() - started)

        pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        started = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - started
        with db.read_session() as s:
            rows = s.execute(text("SELECT count(*) FROM item")).scalar_one()
            distinct = s.execute(text("SELECT count(*) FROM (SELECT DISTINCT source_id, position FROM item)")).scalar_one()
        db.dispose()
    latencies.sort()
    return {
        "tx_per_s": rows / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "retries": counters["retries"],
        "failed": counters["failed"],
        "duplicates": rows - distinct,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--transactions", type=int, default=200)
    args = parser.parse_args()
    anchor = run("deferred-retry", args.threads, args.transactions)
    ours = run("immediate", args.threads, args.transactions)
    print(f"{args.threads} threads x {args.transactions} read-then-write transactions")
    print(f"{'mode':<28}{'tx/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'retries':>9}{'failed':>8}{'dupes':>7}")
    for name, r in (("anchor: deferred + retry", anchor), ("ours: BEGIN IMMEDIATE", ours)):
        print(f"{name:<28}{r['tx_per_s']:>8.0f}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}"
              f"{r['retries']:>9}{r['failed']:>8}{r['duplicates']:>7}")
    print(f"throughput ratio ours/anchor: {ours['tx_per_s'] / anchor['tx_per_s']:.2f}x; "
          f"p95 ratio: {ours['p95_ms'] / anchor['p95_ms']:.2f}x")


if __name__ == "__main__":
    main()
