"""Bulk import of a ticket export, end to end: parse, de-identify, store, write the index
outbox, through the same service calls as `research-repo import`.

    python benchmarks/ingest_bench.py [--rows 100000] [--chunk 500]

The export is built in memory from the BANKING77 training queries (../shared/data/themes/
banking77, CC BY 4.0) in a Zendesk layout, with synthetic identifiers planted in one row in
four (names, emails, phones, SSNs, OPM claim numbers) and in the requester columns, plus a few
broken rows. Printed: rows/s, CPU time, peak memory (max RSS of this process), read = stored +
rejected, and a byte search of the data directory for every planted value. The anchor, measured
in the same run on a sample of the same rows, is the de-identifier alone: the import's rate
over the anchor's says how much parsing, storing and bookkeeping cost on top of it.

Then the index writer drains the outbox into the Whoosh index (the first drain finds no
index and builds it from the database), and the end-to-end time is import + indexing.
"""
from __future__ import annotations

import argparse
import csv
import io
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from nlp import evaldata  # noqa: E402
DATA = evaldata.root() / "themes" / "banking77" / "train.csv"

FIRST = ["Maria", "Deshawn", "Priya", "Tomasz", "Keiko", "Olusegun", "Brittany", "Haruto", "Fatima", "Connor"]
LAST = ["Alvarez", "Whitfield", "Raghunathan", "Kowalczyk", "Nakamura", "Adeyemi", "Sorensen", "Okafor", "Haddad",
        "McAllister"]


def planted_values(rng: random.Random, i: int) -> dict[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}{i}@example.com",
        "phone": f"(703) 555-{i % 10000:04d}",
        "ssn": f"{100 + i % 700:03d}-{10 + i % 89:02d}-{1000 + i % 8999:04d}",
        "claim": f"CSA {1000000 + i:07d}",
    }


def build_export(rows: int, seed: int = 7) -> tuple[bytes, list[str]]:
    rng = random.Random(seed)
    with DATA.open(newline="", encoding="utf-8") as fh:
        queries = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Id", "Subject", "Description", "Requester", "Requester email", "Created at", "Via", "Group",
                     "Satisfaction Score"])
    planted: list[str] = []
    for i in range(1, rows + 1):
        text, category = queries[(i - 1) % len(queries)]
        values = planted_values(rng, i)
        if i % 4 == 0:
            text = (f"Hi, this is {values['name']}. {text} My claim number is {values['claim']}; "
                    f"call me at {values['phone']} or email {values['email']}. SSN {values['ssn']}.")
            if len(planted) < 2000:
                planted.extend(values.values())
        writer.writerow([i, category.replace("_", " ").capitalize(), text, values["name"], values["email"],
                         f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}T{i % 24:02d}:00:00Z",
                         rng.choice(["phone", "email", "web", "chat"]), "Retirement Services", i % 5 + 1])
    data = out.getvalue()
    # A few broken rows: a wrong field count and an unclosed quote near the end.
    data += f"{rows + 1},Broken,too few fields\n"
    data += f'{rows + 2},Broken,"this quote is never closed,2024-01-01,phone,x,1\n'
    return data.encode(), planted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--anchor-sample", type=int, default=5_000)
    args = parser.parse_args()

    from research_repo import create_app, schema
    from research_repo.extensions import get_db
    from research_repo.ingest.records import Record, read_table
    from research_repo.models import Method, Role
    from research_repo.services import accounts, ingest, studies

    started = time.perf_counter()
    data, planted = build_export(args.rows)
    print(f"export: {args.rows + 2:,} records, {len(data) / 2**20:.1f} MB, built in {time.perf_counter() - started:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"ENVIRONMENT": "test", "SECRET_KEY": "bench-secret-key-0123456789-0123456789",
                          "DATA_DIR": tmp, "IMPORT_CHUNK_SIZE": args.chunk})
        db = get_db(app)
        schema.upgrade(db.engine)
        settings = ingest.IngestSettings.from_config(app.config)
        with db.writing() as s:
            user = accounts.create_user(s, None, username="bench", display_name="Bench",
                                        password="bench-password-123", role=Role.RESEARCHER)
            study = studies.create_study(s, user, studies.StudyInput(name="Bench", method=Method.TICKET_ANALYSIS,
                                                                     service="Retirement Services"))
            study_id, user_id = study.id, user.id

        # Anchor: the de-identifier alone on a sample of the same rows (text columns, names known).
        table = read_table("anchor.csv", data)
        sample = [r for r in table.records if isinstance(r, Record)][: args.anchor_sample]
        deid = ingest.deidentifier()
        cpu0, t0 = time.process_time(), time.perf_counter()
        for r in sample:
            deid.deidentify(r.fields["Subject"] + "\n\n" + r.fields["Description"], names=[r.fields["Requester"]])
        anchor_wall = time.perf_counter() - t0
        anchor_rate = len(sample) / anchor_wall
        print(f"anchor (de-identifier alone, {len(sample):,} rows): {anchor_rate:,.0f} rows/s, "
              f"{time.process_time() - cpu0:.1f} CPU-s")
        del table, sample

        cpu0, t0 = time.process_time(), time.perf_counter()
        with db.writing() as s:
            plan = ingest.start_import(s, settings, s.get(studies.Study, study_id), s.get(accounts.User, user_id),
                                       ingest.Upload("bench.csv", data))
        run = ingest.run_import(db, settings, plan, user_id)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rate = run.records_read / wall
        print(f"import: {run.records_read:,} records in {wall:.1f} s ({wall / 60:.1f} min), {rate:,.0f} rows/s, "
              f"{cpu:.1f} CPU-s; peak memory (max RSS) {peak_mb:,.0f} MB")
        print(f"reconciliation: read {run.records_read:,} = stored {run.records_stored:,} + rejected "
              f"{run.records_rejected:,} -> {'OK' if run.records_read == run.records_stored + run.records_rejected else 'MISMATCH'}")
        print(f"import rate / anchor rate: {rate / anchor_rate:.2f}")
        from research_repo.search import indexer

        t1 = time.perf_counter()
        indexer.drain_all(app)
        index_wall = time.perf_counter() - t1
        missing, extra = indexer.consistency(app)
        passages = run.records_stored  # one passage per ticket here (subject + body fit in one)
        print(f"indexing: {index_wall:.1f} s; passages in the database but not the index: {len(missing)}, "
              f"the reverse: {len(extra)}")
        total = wall + index_wall
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"end to end (de-identified, stored, indexed): {total:.1f} s ({total / 60:.1f} min), "
              f"{run.records_read / total:,.0f} rows/s; peak memory {peak_mb:,.0f} MB; passages ~{passages:,}")
        wall = total
        db.dispose()
        found = 0
        files = [p for p in Path(tmp).rglob("*") if p.is_file()]
        blobs = [p.read_bytes() for p in files]
        for value in set(planted):
            if any(value.encode() in blob for blob in blobs):
                found += 1
        print(f"byte search of {len(files)} files ({sum(map(len, blobs)) / 2**20:.0f} MB) for {len(set(planted)):,} "
              f"planted values: {found} found")
        print(f"goals: <= 10 min: {'met' if wall <= 600 else 'NOT met'}; <= 1 GB: {'met' if peak_mb <= 1024 else 'NOT met'}; "
              f"0 planted values found: {'met' if found == 0 else 'NOT met'}")


if __name__ == "__main__":
    main()
