"""Mutated files through the readers the upload path uses, counted.

    python benchmarks/fuzz_readers.py [--files 11000] [--seed 0] [--json]

Seed files of every format we read (txt, md, vtt, srt, docx, pdf, csv, json, jsonl, xlsx,
built by tests/ingest_files.py) are mutated at random, deterministically from ``--seed``:
bytes flipped, runs cut, random bytes inserted, runs repeated (up to 50 times), and for the
zip formats also members rewritten with mutated XML. Each file goes through
``read_document`` or ``read_table`` exactly as an upload does (in a forked child, within the
configured limits).

Printed, as "tried N, failed M": unhandled exceptions (anything but the reader's own
``UnreadableFile``), files that took over 10 s, accepted text decoded as Windows-1252 though
it holds valid multi-byte UTF-8 (mojibake), and the largest peak memory of a reader child (max RSS). The
anchor, in the same run, is the seed files read unmutated: their mean time per file.
``--json`` adds the counts as one JSON line at the end (``tests/test_fuzz_corpus.py`` runs
1,500 files so in every test run).
"""
from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from research_repo.ingest import bounded  # noqa: E402
from research_repo.ingest.decode import UTF8_SEQUENCE  # noqa: E402
from research_repo.ingest.documents import read_document  # noqa: E402
from research_repo.ingest.errors import UnreadableFile  # noqa: E402
from research_repo.ingest.records import read_table  # noqa: E402
from tests.ingest_files import seed_files  # noqa: E402

RECORDS = (".csv", ".json", ".jsonl", ".xlsx")


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.choice(("flip", "cut", "insert", "repeat"))
        at = rng.randrange(max(1, len(out)))
        if op == "flip" and out:
            out[at] = rng.randrange(256)
        elif op == "cut":
            del out[at:at + rng.randint(1, 64)]
        elif op == "insert":
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        else:
            out[at:at] = out[at:at + rng.randint(1, 64)] * rng.randint(2, 50)
    return bytes(out)


def mutate_zip(data: bytes, rng: random.Random) -> bytes:
    """A valid zip whose members' contents are mutated (so the XML parsers see the damage)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            body = source.read(item.filename)
            if item.filename.endswith(".xml") and rng.random() < 0.5:
                body = mutate(body, rng)
            target.writestr(item.filename, body)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=11000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the counts as one JSON line at the end")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    seeds = seed_files()  # here, not at the top: every reader child runs this script's top level

    started = time.perf_counter()
    for name, data in seeds.items():
        (read_table if name.endswith(RECORDS) else read_document)(name, data)
    anchor = (time.perf_counter() - started) / len(seeds)

    unhandled, slow, mojibake, undecidable, refused, accepted = [], [], 0, 0, 0, 0
    slowest = 0.0
    names = sorted(seeds)
    started = time.perf_counter()
    for i in range(args.files):
        name = names[i % len(names)]
        data = seeds[name]
        data = mutate_zip(data, rng) if name.endswith((".docx", ".xlsx")) and rng.random() < 0.5 else mutate(data, rng)
        reader = read_table if name.endswith(RECORDS) else read_document
        t = time.perf_counter()
        try:
            result = reader(name, data)
            accepted += 1
            if reader is read_document and result.encoding == "cp1252":
                if UTF8_SEQUENCE.search(data):
                    mojibake += 1  # valid UTF-8 in it, read as Windows-1252
                elif "Ã" in result.text:
                    undecidable += 1
        except UnreadableFile:
            refused += 1
        except Exception as exc:  # noqa: BLE001 - counted: this is what the benchmark looks for
            unhandled.append(f"{name}: {type(exc).__name__}")
        seconds = time.perf_counter() - t
        slowest = max(slowest, seconds)
        if seconds > 10:
            slow.append(name)
    total = time.perf_counter() - started
    child_peak_mb = bounded.peak_child_mb()
    n = args.files
    print(f"tried {n}: accepted {accepted}, refused with the reader's own message {refused}")
    print(f"unhandled exceptions: tried {n}, failed {len(unhandled)} {sorted(set(unhandled))[:10]}")
    print(f"over 10 s: tried {n}, failed {len(slow)} (slowest {slowest:.2f} s)")
    print(f"mojibake (a file holding valid multi-byte UTF-8 read as Windows-1252): tried {n}, failed {mojibake}")
    print(f"  files whose only UTF-8 character was damaged, read as Windows-1252 (a lone 'Ã' before ASCII is "
          f"valid Windows-1252, as in 'NÃO'; undecidable): {undecidable}")
    print(f"peak memory of a reader child: {child_peak_mb:.0f} MB max RSS, pages shared with the fork server "
          "included (goal <= 512 MB)")
    print(f"mean per file {total / n * 1000:.1f} ms; anchor (the seed files unmutated) {anchor * 1000:.1f} ms; "
          f"ratio {total / n / anchor:.2f}x")
    if args.json:
        print(json.dumps({"tried": n, "accepted": accepted, "refused": refused, "unhandled": sorted(set(unhandled)),
                          "over_10_s": len(slow), "slowest_s": slowest, "mojibake": mojibake,
                          "child_peak_mb": child_peak_mb}))


if __name__ == "__main__":
    main()
