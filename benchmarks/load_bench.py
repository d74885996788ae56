"""Uploads under load, through a real server: how long until an upload is searchable, while
people search and a large export imports, and how many requests fail.

    python benchmarks/load_bench.py [--rows 20000] [--uploaders 8] [--searchers 24] [--uploads 5]

It makes a fresh data directory, creates a researcher and a study with the CLI, starts
``research-repo serve`` on loopback (waitress, with its job worker and index writer threads)
and drives it over HTTP, as a browser would (sign-in, CSRF tokens, multipart uploads) and as
an API client would (a bearer token for searches).

- **Anchor**, measured first in the same run: each uploader uploads one short note while
  nothing else happens; the time from sending the upload to the note's unique word being
  found by search.
- **Under load**: ``--searchers`` threads search, ``--think`` seconds apart (one user: past
  ``SEARCH_MAX_CONCURRENT_PER_USER`` a search is refused with 429, counted apart); one upload starts an import
  of ``--rows`` ticket records (BANKING77 queries when ``RESEARCH_REPO_EVAL_DATA`` has them,
  else generated sentences); meanwhile ``--uploaders`` threads each upload ``--uploads`` notes
  and time each one to searchable again.

``--separate-worker`` runs jobs and the index writer in a ``research-repo worker`` process
beside the server (``EMBEDDED_WORKER=false``), so the server's interpreter only serves.

Printed: upload-to-searchable p50/p95/max for the anchor and under load, and their ratio;
searches run and their p95; every HTTP status of 500 or more; the import's progress when the
uploads were done. The goal of issue 23: p95 <= 5 s under load, no 5xx.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from nlp import evaldata  # noqa: E402
from tests.http_client import CLI, Client, Server  # noqa: E402

PASSWORD = "load-bench-passphrase-2026"


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def search(self, q: str) -> tuple[int, int]:
        request = urllib.request.Request(f"{self.base}/api/v1/search?{urllib.parse.urlencode({'q': q})}",
                                         headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                return r.status, json.loads(r.read())["total"]
        except urllib.error.HTTPError as e:
            return e.code, 0
        except TimeoutError:
            return 599, 0  # no answer in 60 s: counted with the failures


def _texts(n: int) -> list[str]:
    path = evaldata.root() / "themes" / "banking77" / "train.csv"
    if path.exists():
        with path.open(encoding="utf-8") as f:
            rows = [r["text"] for r in csv.DictReader(f)]
    else:
        words = "card payment transfer refund pending declined balance account fee exchange top-up".split()
        rng = random.Random(0)
        rows = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(2000)]
    return [rows[i % len(rows)] + f" (ticket {i})" for i in range(n)]


def _export(rows: int) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["Ticket ID", "Subject", "Description", "Created at", "Channel"])
    for i, text in enumerate(_texts(rows), 1):
        w.writerow([i, "Help request", text, "2026-03-01", "web"])
    return out.getvalue().encode()


UPLOAD_SECONDS: list[float] = []  # the upload request alone


def _timed_upload(browser: Client, api: Api, study_id: int, word: str, statuses: list, deadline: float = 600):
    started = time.monotonic()
    statuses.append(browser.upload(study_id, f"{word}.txt", f"Participant said the {word} letter was late.".encode()))
    UPLOAD_SECONDS.append(time.monotonic() - started)
    while time.monotonic() - started < deadline:
        status, total = api.search(word)
        statuses.append(status)
        if total:
            return time.monotonic() - started
        time.sleep(0.1)
    return float("inf")


def _summary(values: list[float]) -> str:
    return (f"p50 {statistics.median(values):.2f} s, p95 {_p95(values):.2f} s, max {max(values):.2f} s "
            f"(n={len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--uploaders", type=int, default=8)
    parser.add_argument("--searchers", type=int, default=24)
    parser.add_argument("--uploads", type=int, default=5, help="notes per uploader under load")
    parser.add_argument("--think", type=float, default=0.5, help="seconds each searcher waits between searches")
    parser.add_argument("--separate-worker", action="store_true",
                        help="run jobs and the index writer in a `research-repo worker` process "
                             "(EMBEDDED_WORKER=false), as a larger deployment does")
    parser.add_argument("--kill-worker", type=int, default=0, metavar="N",
                        help="with --separate-worker: kill -9 the worker N times during the uploads (a new one "
                             "starts each time), then check that no job was lost or run twice")
    args = parser.parse_args()
    if args.kill_worker and not args.separate_worker:
        parser.error("--kill-worker needs --separate-worker")

    data_dir = Path(tempfile.mkdtemp(prefix="load-bench-"))
    env = {**os.environ, "RESEARCH_REPO_DATA_DIR": str(data_dir), "RESEARCH_REPO_ENVIRONMENT": "development",
           "RESEARCH_REPO_SECRET_KEY": "load-bench-" + "k" * 40, "RESEARCH_REPO_NEW_USER_PASSWORD": PASSWORD}
    run = lambda *a: subprocess.run([CLI, *a], env=env, check=True, capture_output=True, text=True).stdout  # noqa: E731
    run("init")
    run("users", "create", "bench", "--role", "researcher")
    run("studies", "create", "Load bench", "--service", "Retirement Services",
        "--purpose", "Load benchmark", "--by", "bench")
    token = run("users", "token", "bench", "--name", "load bench").strip().splitlines()[-1]
    log_path = data_dir / "server.log"
    worker = None

    def start_worker():
        with log_path.open("ab") as log_file:
            return subprocess.Popen([CLI, "worker", "--poll", "0.2"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=log_file)

    if args.separate_worker:
        env["RESEARCH_REPO_EMBEDDED_WORKER"] = "false"
        # A killed worker's job is taken back once its lease runs out: short here, to see it.
        env.setdefault("RESEARCH_REPO_JOB_LEASE_SECONDS", "20")
        worker = start_worker()
    server = Server(env, log_path, "--threads", "16")
    base = server.base
    try:
        api = Api(base, token)
        browsers = [Client(base, timeout=600) for _ in range(args.uploaders + 1)]
        for b in browsers:
            b.login("bench", PASSWORD)
        _, studies_page = browsers[0].get("/studies")
        study_id = int(re.search(r"/studies/(\d+)", studies_page).group(1))
        statuses: list[int] = []

        # Anchor: one upload at a time, nothing else running.
        anchor = [_timed_upload(browsers[i], api, study_id, f"anchorword{i}x", statuses) for i in range(args.uploaders)]
        print(f"anchor, idle server: upload to searchable {_summary(anchor)}; the upload request alone "
              f"{_summary(UPLOAD_SECONDS)}")
        UPLOAD_SECONDS.clear()

        stop = threading.Event()
        search_times: list[float] = []

        def searcher(n: int) -> None:
            words = ["card", "payment", "refund", "letter", "late", "transfer"]
            while not stop.is_set():
                t = time.monotonic()
                status, _ = api.search(words[n % len(words)])
                search_times.append(time.monotonic() - t)
                statuses.append(status)
                stop.wait(args.think)

        threads = [threading.Thread(target=searcher, args=(i,), daemon=True) for i in range(args.searchers)]
        for t in threads:
            t.start()
        export = _export(args.rows)
        started = time.monotonic()
        statuses.append(browsers[-1].upload(study_id, "tickets.csv", export))
        print(f"import of {args.rows:,} records accepted after {time.monotonic() - started:.1f} s")
        loaded: list[float] = []

        def uploader(i: int) -> None:
            for k in range(args.uploads):
                loaded.append(_timed_upload(browsers[i], api, study_id, f"loadword{i}n{k}x", statuses))

        ups = [threading.Thread(target=uploader, args=(i,)) for i in range(args.uploaders)]
        for t in ups:
            t.start()
        kills = 0
        while any(t.is_alive() for t in ups):
            time.sleep(0.5)
            if kills < args.kill_worker and time.monotonic() - started > 8 * (kills + 1):
                worker.kill()  # SIGKILL: no chance to finish or record anything
                worker.wait()
                worker = start_worker()
                kills += 1
        for t in ups:
            t.join()
        if args.kill_worker:
            print(f"worker killed with SIGKILL {kills} times during the uploads")
        _, imports_page = browsers[0].get(f"/studies/{study_id}/imports/1/status")
        phase = time.monotonic() - started
        stop.set()
        for t in threads:
            t.join(60)
        print(f"under load ({args.searchers} searchers, {args.uploaders} uploaders, an import of {args.rows:,}): "
              f"upload to searchable {_summary(loaded)}; the upload request alone {_summary(UPLOAD_SECONDS)}")
        print(f"ratio under load / anchor, p95: {_p95(loaded) / max(_p95(anchor), 1e-9):.1f}x")
        print(f"searches: {len(search_times):,}, p95 {_p95(search_times) * 1000:.0f} ms")
        print(f"import status when the uploads were done: {imports_page.strip()}")
        stored = json.loads(imports_page).get("stored", 0)
        print(f"import meanwhile: {stored:,} records stored in {phase:.1f} s ({stored / phase:.0f} records/s)")
        if args.separate_worker:
            _check_jobs_and_index(env)
        failures = [s for s in statuses if s >= 500]
        print(f"HTTP statuses >= 500: {len(failures)} of {len(statuses):,} requests "
              f"({', '.join(f'{c}: {failures.count(c)}' for c in sorted(set(failures))) or 'none'}); "
              f"429 (too many searches at once): {statuses.count(429)}")
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(20)
        server.stop()
        log = log_path.read_text(errors="replace")
        for what in ("Traceback", "damaged", "rebuilt", "database is locked"):
            print(f"server log lines with {what!r}: {log.count(what)}")
        if "Traceback" in log:
            print("server errors:\n" + log[-3000:])


def _check_jobs_and_index(env: dict, timeout: float = 600) -> None:
    """After the load: wait until every job has ended and the outbox is drained, then print jobs
    by status, any job that ran more than once to completion, and database ids against index ids."""
    from sqlalchemy import func, select

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from research_repo import create_app
    from research_repo.extensions import get_db
    from research_repo.models import Job, JobStatus
    from research_repo.search import indexer

    os.environ.update({k: v for k, v in env.items() if k.startswith("RESEARCH_REPO_")})
    app = create_app()  # configured as the server is, from the same environment
    db = get_db(app)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.read_session() as s:
            open_jobs = s.scalar(select(func.count()).select_from(Job).where(
                Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])))
        if not open_jobs and not indexer.pending(app):
            break
        time.sleep(1)
    with app.app_context(), db.read_session() as s:
        by_status = dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        retried = s.scalar(select(func.count()).select_from(Job).where(Job.attempts > 1))
        missing, extra = indexer.consistency(app)
    print(f"jobs: {', '.join(f'{k.value} {v}' for k, v in sorted(by_status.items(), key=lambda kv: kv[0].value))}; "
          f"taken back after a kill and run again: {retried}; still open: {open_jobs}")
    print(f"index: passages in the database but not the index {len(missing)}, in the index but not the database "
          f"{len(extra)}")
    db.dispose()


def _p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]


if __name__ == "__main__":
    main()
