"""Search speed: our Whoosh back end against a plain Whoosh setup, in the same run.

    python benchmarks/search_bench.py [--passages 100000] [--queries 200]

Passages come from ../shared/data/search/ubuntu_irc_passages.jsonl (27,986 real help-channel
passages, CC BY 4.0), cycled with facet values (study, service, kind, speaker, channel, date)
up to --passages. Measured for both set-ups:

- rebuild rate (passages/s). Ours: one commit, with one process (as the writer thread
  rebuilds) and with as many as `research-repo reindex` uses (the CPU count, at most 4).
  Plain: the default schema (stored TEXT, no stemming, no columns) with one writer per commit
  of 1,000 documents;
- top-10 latency with highlights (p50, p95) for one term, several terms, phrases, and filters
  with facet counts; a fresh searcher per query, as a web request opens one;
- a delete of 10 passages with the purge that takes their words out of the files, against a
  rebuild's time in the same run; and ours' p95 in its bounded segments against one merged one;
- how soon an upload is searchable: a document stored with its outbox row, the index writer
  thread polling, until a search finds it (p95 over --uploads).

    python benchmarks/search_bench.py --passages 1000000 --no-ours --postgres postgresql+psycopg://USER@HOST/postgres

adds the PostgreSQL back end (load rate and the same queries, in a database it makes and
drops on that server); --no-ours leaves out our Whoosh rebuild, which is the slow part.

    python benchmarks/search_bench.py --concurrency 120

runs `research-repo serve` on loopback with 8 uploading and 16 searching clients for that
many seconds, counts lock and server errors, waits for the outbox to drain, and compares
the passage ids in the database with those in the index.
"""
from __future__ import annotations

import argparse
from collections import Counter
import json
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from nlp import evaldata  # noqa: E402
DATA = evaldata.root() / "search" / "ubuntu_irc_passages.jsonl"


def load_passages(n: int, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    base = [json.loads(line)["text"] for line in DATA.open(encoding="utf-8")]
    docs = []
    start = datetime(2024, 1, 1)
    for i in range(n):
        text = base[i % len(base)]
        docs.append({
            "passage_id": i + 1, "source_id": i // 5 + 1, "position": i % 5, "study": 1 + i % 5,
            "title": f"Conversation {i // 5 + 1}", "text": text,
            "speaker": rng.choice(["P1", "P2", "MODERATOR", "AGENT"]),
            "kind": rng.choice(["ticket", "interview", "focus-group"]),
            "service": rng.choice(["Retirement Services", "USAJOBS", "OPM.gov"]),
            "channel": rng.choice(["phone", "email", "web", "chat"]),
            "stage": rng.choice(["applying", "waiting", "first payment"]), "segment": None,
            "date": (d := start + timedelta(hours=i % 17_000)),
            "year": str(d.year), "quarter": f"{d.year}-Q{(d.month - 1) // 3 + 1}",
            "tag": [], "theme": [], "driver": [],
        })
    return docs


def percentiles(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return statistics.median(values) * 1000, values[int(0.95 * (len(values) - 1))] * 1000


def make_queries(docs: list[dict], count: int, seed: int = 5) -> dict[str, list[tuple[str, dict]]]:
    rng = random.Random(seed)
    # One count of every word (words.count per distinct word was quadratic: 15 of a run's 54 minutes).
    counted = Counter(w.lower() for d in docs[:3000] for w in re.findall(r"[A-Za-z]{5,}", d["text"]))
    common = sorted(w for w, n in counted.items() if 20 <= n <= 400) or sorted(counted)
    one = [(rng.choice(common), {}) for _ in range(count)]
    several = [(" ".join(rng.sample(common, 3)), {}) for _ in range(count)]
    phrases = []
    while len(phrases) < count:
        tokens = re.findall(r"[A-Za-z]{4,}", rng.choice(docs[:3000])["text"])
        if len(tokens) >= 3:
            k = rng.randrange(len(tokens) - 1)
            phrases.append((f'"{tokens[k]} {tokens[k + 1]}"', {}))
    filtered = [(rng.choice(common), {"service": [rng.choice(["USAJOBS", "OPM.gov"])], "channel": ["phone"]})
                for _ in range(count)]
    return {"one term": one, "several terms": several, "phrases": phrases, "filters + facets": filtered}


def bench_ours(docs, queries, tmp: Path) -> dict:
    from research_repo.search import SearchQuery
    from research_repo.search.whoosh_backend import WhooshBackend

    import os

    backend = WhooshBackend(tmp / "ours")
    out = {}
    # As `research-repo reindex` does, then with one process as the writer thread rebuilds:
    # the index searched below has the writer thread's segments (SEGMENT_DOCS each).
    procs = min(os.cpu_count() or 1, 4)
    for label, procs_now in (("rebuild", procs), ("rebuild 1 proc", 1)):
        t0 = time.perf_counter()
        with backend.writer_lock():
            backend.rebuild([docs[i:i + 5000] for i in range(0, len(docs), 5000)], procs=procs_now)
        out[label] = len(docs) / (time.perf_counter() - t0)
    out["procs"] = procs
    out["segments"] = len(backend._open()._segments())
    studies = [1, 2, 3, 4, 5]

    def run_queries(suffix: str = "") -> None:
        for kind, items in queries.items():
            times = []
            for text, filters in items:
                q = SearchQuery(text=text, filters=filters, facets=kind == "filters + facets")
                t = time.perf_counter()
                backend.search(q, studies)
                times.append(time.perf_counter() - t)
            out[kind + suffix] = percentiles(times)

    run_queries()
    out["delete"] = time_delete(backend, docs)
    # The same queries on one merged segment: what the bounded segments cost a search.
    with backend.writer_lock():
        backend._open().optimize()
    run_queries(" one segment")
    return out


def time_delete(backend, docs) -> float:
    """Seconds to delete one source's passages (10, spread as a source's are: consecutive ids)
    so that their words leave the index's files: ``apply`` then ``purge``, as the writer does."""
    middle = len(docs) // 2
    ids = [d["passage_id"] for d in docs[middle:middle + 10]]
    t0 = time.perf_counter()
    with backend.writer_lock():
        backend.apply([], ids)
        backend.purge(ids)
    return time.perf_counter() - t0


def bench_postgres(docs, queries, server_url: str) -> dict:
    """The PostgreSQL back end in a database of its own on ``server_url`` (a server where the
    benchmark may create one): the load rate of a rebuild, then the same queries."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from research_repo import schema
    from research_repo.search import SearchQuery
    from research_repo.search.postgres_backend import PostgresBackend

    url = make_url(server_url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("DROP DATABASE IF EXISTS rr_search_bench WITH (FORCE)")
        conn.exec_driver_sql("CREATE DATABASE rr_search_bench")
    engine = create_engine(url.set(database="rr_search_bench"))
    try:
        schema.upgrade(engine)
        backend = PostgresBackend(engine, time_limit=30)
        out = {}
        t0 = time.perf_counter()
        with backend.writer_lock():
            backend.rebuild(docs[i:i + 5000] for i in range(0, len(docs), 5000))
        out["rebuild"] = len(docs) / (time.perf_counter() - t0)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE search_document")
            out["size"] = conn.exec_driver_sql(
                "SELECT pg_size_pretty(pg_total_relation_size('search_document'))").scalar()
        for kind, items in queries.items():
            times = []
            for text, filters in items:
                q = SearchQuery(text=text, filters=filters, facets=kind == "filters + facets")
                t = time.perf_counter()
                backend.search(q, [1, 2, 3, 4, 5])
                times.append(time.perf_counter() - t)
            out[kind] = percentiles(times)
        out["delete"] = time_delete(backend, docs)
        return out
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql("DROP DATABASE IF EXISTS rr_search_bench WITH (FORCE)")
        admin.dispose()


def bench_plain(docs, queries, tmp: Path) -> dict:
    from whoosh import fields, highlight, index, qparser, query, sorting

    schema = fields.Schema(passage_id=fields.ID(stored=True, unique=True), text=fields.TEXT(stored=True),
                           service=fields.ID(stored=True), channel=fields.ID(stored=True),
                           study=fields.ID(stored=True))
    path = tmp / "plain"
    path.mkdir()
    ix = index.create_in(str(path), schema)
    t0 = time.perf_counter()
    for i in range(0, len(docs), 1000):
        writer = ix.writer()
        for d in docs[i:i + 1000]:
            writer.add_document(passage_id=str(d["passage_id"]), text=d["text"], service=d["service"],
                                channel=d["channel"], study=str(d["study"]))
        writer.commit()
    rebuild = len(docs) / (time.perf_counter() - t0)
    out = {"rebuild": rebuild}
    for kind, items in queries.items():
        times = []
        for text, filters in items:
            t = time.perf_counter()
            ix = index.open_dir(str(path))
            with ix.searcher() as s:
                parsed = qparser.QueryParser("text", ix.schema).parse(text)
                filter_q = None
                groupedby = None
                if filters:
                    filter_q = query.And([query.Or([query.Term(k, v) for v in vs]) for k, vs in filters.items()])
                    groupedby = sorting.Facets()
                    for name in ("service", "channel", "study"):
                        groupedby.add_facet(name, sorting.FieldFacet(name, maptype=sorting.Count))
                results = s.search(parsed, limit=10, filter=filter_q, groupedby=groupedby, terms=True)
                results.formatter = highlight.HtmlFormatter()
                for hit in results:
                    hit.highlights("text")
                if groupedby:
                    for name in ("service", "channel", "study"):
                        results.groups(name)
            times.append(time.perf_counter() - t)
        out[kind] = percentiles(times)
    return out


def bench_freshness(uploads: int, tmp: Path) -> list[float]:
    """Seconds from a stored upload (data + outbox committed) to the first search that finds it."""
    from research_repo import create_app, schema
    from research_repo.extensions import get_db
    from research_repo.models import Method, Role
    from research_repo.search import SearchQuery, backend
    from research_repo.search.indexer import IndexWriterThread, rebuild
    from research_repo.services import accounts, ingest, studies

    (tmp / "app").mkdir()
    app = create_app({"ENVIRONMENT": "test", "SECRET_KEY": "bench-secret-key-0123456789-0123456789",
                      "DATA_DIR": str(tmp / "app")})
    db = get_db(app)
    schema.upgrade(db.engine)
    settings = ingest.IngestSettings.from_config(app.config)
    with db.writing() as s:
        user = accounts.create_user(s, None, username="bench", display_name="Bench", password="bench-password-123",
                                    role=Role.RESEARCHER)
        study = studies.create_study(s, user, studies.StudyInput(name="B", method=Method.INTERVIEWS, service="X"))
        study_id, user_id = study.id, user.id
    rebuild(app)
    writer = IndexWriterThread(app, poll_seconds=0.2).start()
    delays = []
    try:
        for i in range(uploads):
            word = f"zq{i:04d}marker"
            with db.writing() as s:
                ingest.ingest_document(s, settings, s.get(studies.Study, study_id), s.get(accounts.User, user_id),
                                       ingest.Upload(f"n{i}.txt", f"The note says {word} about the interim letter.".encode()))
            stored = time.perf_counter()
            while backend(app).search(SearchQuery(text=word, facets=False), [study_id]).total == 0:
                time.sleep(0.01)
                if time.perf_counter() - stored > 30:
                    break
            delays.append(time.perf_counter() - stored)
    finally:
        writer.stop()
    return delays


def bench_concurrency(seconds: int, uploaders: int = 8, searchers: int = 16) -> None:
    import http.cookiejar
    import os
    import socket
    import subprocess
    import threading
    import urllib.error
    import urllib.parse
    import urllib.request

    from research_repo import create_app, schema
    from research_repo.extensions import get_db
    from research_repo.models import Method, Role
    from research_repo.search import indexer
    from research_repo.services import accounts, studies

    tmp = Path(tempfile.mkdtemp())
    secret = "concurrency-bench-secret-key-0123456789abcdef"
    app = create_app({"ENVIRONMENT": "test", "SECRET_KEY": secret, "DATA_DIR": str(tmp)})
    db = get_db(app)
    schema.upgrade(db.engine)
    with db.writing() as s:
        user = accounts.create_user(s, None, username="bench", display_name="Bench",
                                    password="bench-password-123", role=Role.RESEARCHER)
        study_id = studies.create_study(s, user, studies.StudyInput(name="C", method=Method.INTERVIEWS,
                                                                    service="Retirement Services")).id
    indexer.rebuild(app)  # an (empty) index from the start: any 503 below is a real one
    db.dispose()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "RESEARCH_REPO_DATA_DIR": str(tmp), "RESEARCH_REPO_SECRET_KEY": secret,
           "RESEARCH_REPO_ENVIRONMENT": "test"}
    server = subprocess.Popen([sys.executable, "-m", "research_repo.cli", "serve", "--port", str(port),
                               "--threads", str(uploaders + searchers + 4)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/login", timeout=2)
            break
        except OSError:
            time.sleep(0.2)
    counts: dict[str, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def tally(key: str) -> None:
        with lock:
            counts[key] = counts.get(key, 0) + 1

    def client():
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = opener.open(base + "/login", timeout=30).read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"username": "bench", "password": "bench-password-123", "csrf_token": token})
        opener.open(base + "/login", data=data.encode(), timeout=30)
        return opener

    def call(opener, url, data=None, headers=None) -> None:
        request = urllib.request.Request(url, data=data, headers=headers or {})
        try:
            opener.open(request, timeout=60).read()
            tally("ok")
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            detail = re.search(r'"message": ?"([^"]{0,70})', body)
            tally("locked" if "locked" in body.lower() else f"http {exc.code}" + (f" ({detail.group(1)})" if detail else ""))
        except OSError as exc:
            tally(type(exc).__name__)

    def uploader(n: int) -> None:
        opener = client()
        i = 0
        while time.monotonic() < stop:
            page = opener.open(f"{base}/studies/{study_id}/upload", timeout=60).read().decode()
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
            boundary = f"bench{n}x{i}"
            text = f"Uploader {n} note {i}: the interim annuity letter came late again."
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
                    f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"n{n}-{i}.txt\"\r\n"
                    f"Content-Type: text/plain\r\n\r\n{text}\r\n--{boundary}--\r\n").encode()
            call(opener, f"{base}/studies/{study_id}/upload", body,
                 {"Content-Type": f"multipart/form-data; boundary={boundary}"})
            tally("uploads")
            i += 1

    def searcher(n: int) -> None:
        opener = client()
        words = ["interim", "annuity", "letter", '"came late"', "uploader", "note"]
        i = 0
        while time.monotonic() < stop:
            call(opener, f"{base}/api/v1/search?" + urllib.parse.urlencode({"q": words[(n + i) % len(words)]}))
            tally("searches")
            i += 1

    threads = [threading.Thread(target=uploader, args=(n,)) for n in range(uploaders)]
    threads += [threading.Thread(target=searcher, args=(n,)) for n in range(searchers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    app = create_app({"ENVIRONMENT": "test", "SECRET_KEY": secret, "DATA_DIR": str(tmp)})
    deadline = time.monotonic() + 120
    while indexer.pending(app) and time.monotonic() < deadline:
        time.sleep(0.5)
    server.terminate()
    _out, err = server.communicate(timeout=30)
    missing, extra = indexer.consistency(app)
    errors = {k: v for k, v in counts.items() if k not in ("ok", "uploads", "searches")}
    print(f"concurrency: {uploaders} uploaders + {searchers} searchers for {seconds} s: "
          f"{counts.get('uploads', 0)} uploads, {counts.get('searches', 0)} searches; problems: {errors or 'none'}; "
          f"'database is locked' in the server log: {err.count('database is locked')}")
    print(f"after draining: passages in the database but not the index {len(missing)}, the reverse {len(extra)}")
    for line in [x for x in err.splitlines() if " ERROR " in x][:10]:
        print("server:", line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--uploads", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=0, metavar="SECONDS",
                        help="Only run the loopback test with 8 uploaders and 16 searchers for this long.")
    parser.add_argument("--postgres", metavar="URL",
                        help="Also measure the PostgreSQL back end in a database made on this server "
                             "(postgresql+psycopg://USER@HOST:PORT/postgres).")
    parser.add_argument("--no-plain", action="store_true",
                        help="Leave out the plain Whoosh anchor too (the figures then have no anchor of this run).")
    parser.add_argument("--no-ours", action="store_true",
                        help="Leave out our Whoosh back end (its rebuild takes about 50 minutes at 1,000,000).")
    args = parser.parse_args()
    if args.concurrency:
        bench_concurrency(args.concurrency)
        return
    docs = load_passages(args.passages)
    queries = make_queries(docs, args.queries)
    print(f"{len(docs):,} passages; {args.queries} queries of each kind")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plain = None if args.no_plain else bench_plain(docs, queries, tmp)
        if not args.no_ours and plain:
            ours = bench_ours(docs, queries, tmp)
            print(f"rebuild: ours {ours['rebuild']:,.0f} passages/s with {ours['procs']} processes, "
                  f"{ours['rebuild 1 proc']:,.0f} with one; plain {plain['rebuild']:,.0f} passages/s "
                  f"({ours['rebuild'] / plain['rebuild']:.2f}x, {ours['rebuild 1 proc'] / plain['rebuild']:.2f}x)")
            for kind in queries:
                o50, o95 = ours[kind]
                p50, p95 = plain[kind]
                print(f"{kind:>16}: ours p50 {o50:6.1f} ms p95 {o95:6.1f} ms | plain p50 {p50:6.1f} ms "
                      f"p95 {p95:6.1f} ms | p95 ratio plain/ours {p95 / o95:.2f}")
            rebuild_s = len(docs) / ours["rebuild 1 proc"]
            print(f"delete of 10 passages with purge: ours {ours['delete']:.1f} s against a one-process "
                  f"rebuild's {rebuild_s:.0f} s ({rebuild_s / ours['delete']:.0f}x faster); "
                  f"{ours['segments']} segments")
            for kind in queries:
                o95, m95 = ours[kind][1], ours[kind + " one segment"][1]
                print(f"{kind:>16}: ours p95 {o95:6.1f} ms in {ours['segments']} segments, "
                      f"{m95:6.1f} ms in one ({o95 / m95:.2f}x)")
        if args.postgres:
            pg = bench_postgres(docs, queries, args.postgres)
            anchor = (f" (plain Whoosh {plain['rebuild']:,.0f}, {pg['rebuild'] / plain['rebuild']:.2f}x)"
                      if plain else "")
            print(f"postgres: load {pg['rebuild']:,.0f} passages/s{anchor}; search_document {pg['size']}; "
                  f"delete of 10 passages with purge (VACUUM FULL) {pg['delete']:.1f} s, "
                  f"a rebuild {len(docs) / pg['rebuild']:.0f} s")
            for kind in queries:
                g50, g95 = pg[kind]
                line = f"{kind:>16}: postgres p50 {g50:6.1f} ms p95 {g95:6.1f} ms"
                if plain:
                    p50, p95 = plain[kind]
                    line += f" | plain p50 {p50:6.1f} ms p95 {p95:6.1f} ms | p95 ratio plain/postgres {p95 / g95:.2f}"
                print(line)
        if args.uploads:
            delays = bench_freshness(args.uploads, tmp)
            d50, d95 = percentiles(delays)
            print(f"upload to searchable: p50 {d50:.0f} ms, p95 {d95:.0f} ms over {len(delays)} uploads")


if __name__ == "__main__":
    main()
