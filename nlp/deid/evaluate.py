"""Score the de-identifier: precision, recall and F2 per kind, at character and span level.

    python -m nlp.deid.evaluate [--data DIR] [--json]

First our own CX sets (``data/cx_dev.txt``, ``data/cx_held_out.txt``, shipped): how many
words that are not identifiers come out unchanged (damage), markers glued to letters,
identifier recall, and the share of texts that still show an identifier. Then the public sets.

Data (read from RESEARCH_REPO_EVAL_DATA/deid, default ../shared/data/deid, never copied): the Presidio synthetic set (MIT,
microsoft/presidio-research) and WNUT-17 train and dev person and location tags
(CC BY 4.0, Derczynski et al., W-NUT 2017).

Character level: recall is the share of gold identifier characters covered by any
predicted span (whatever kind we called it: what matters is that it was redacted);
precision is the share of predicted characters that fall inside a gold identifier span.
Span level: a gold span counts as found when at least half its characters are covered;
a predicted span counts as right when at least half of it lies inside gold identifiers.
Kinds that do not identify a person (ORGANIZATION, TITLE, NRP in the Presidio set;
group, corporation, product, creative-work in WNUT) are not identifiers: redacting them
counts against precision.
"""
from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .. import evaldata
from .engine import Deidentifier

DATA = evaldata.root() / "deid"
PRESIDIO_NON_IDENTIFIERS = frozenset({"ORGANIZATION", "TITLE", "NRP"})
WNUT_IDENTIFIERS = {"person": "PERSON", "location": "LOCATION"}


@dataclass
class Example:
    text: str
    spans: list[tuple[int, int, str]]  # gold identifier spans (start, end, dataset kind)


def load_presidio(path: Path) -> list[Example]:
    examples = []
    for record in json.loads(path.read_text(encoding="utf-8")):
        spans = [
            (s["start_position"], s["end_position"], s["entity_type"])
            for s in record["spans"]
            if s["entity_type"] not in PRESIDIO_NON_IDENTIFIERS
        ]
        examples.append(Example(record["full_text"], spans))
    return examples


def load_conll(path: Path) -> list[Example]:
    """CoNLL token<TAB>BIO lines; tokens joined by single spaces into the text."""
    examples, tokens = [], []

    def flush():
        text, spans, pos, current = [], [], 0, None
        for word, tag in tokens:
            start = pos
            text.append(word)
            pos += len(word) + 1
            kind = WNUT_IDENTIFIERS.get(tag[2:]) if tag != "O" else None
            if kind and tag.startswith("I-") and current and current[2] == kind:
                current[1] = start + len(word)
            else:
                if current:
                    spans.append(tuple(current))
                current = [start, start + len(word), kind] if kind else None
        if current:
            spans.append(tuple(current))
        examples.append(Example(" ".join(text), spans))

    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line.strip():
                if tokens:
                    flush()
                tokens = []
                continue
            parts = line.split("\t")
            tokens.append((parts[0], parts[-1]))
    if tokens:
        flush()
    return examples


def _kept_by_policy(value: str, kind: str) -> bool:
    """Gold spans our policy leaves in the text on purpose: countries and US states, ages up
    to 89, and a year, weekday or month on its own (not identifiers under HIPAA safe harbor)."""
    from .places import large_regions

    v = value.strip().lower()
    if kind in ("GPE", "LOCATION"):
        return v in large_regions()
    if kind == "AGE":
        return v.isdigit() and int(v) <= 89
    if kind == "DATE_TIME":
        return bool(re.fullmatch(r"(?:19|20)\d{2}s?|(?:mon|tues|wednes|thurs|fri|satur|sun)day|"
                                 r"january|february|march|april|may|june|july|august|september|october|november|december", v))
    return False


def policy_view(examples: list[Example]) -> list[Example]:
    """The same texts with the spans kept by policy dropped from the gold standard."""
    return [Example(e.text, [s for s in e.spans if not _kept_by_policy(e.text[s[0]:s[1]], s[2])]) for e in examples]


def _f2(p: float, r: float) -> float:
    return 5 * p * r / (4 * p + r) if p + r else 0.0


def score(examples: list[Example], engine: Deidentifier) -> dict:
    """Run ``engine`` over the examples (timed in CPU seconds) and score what it found."""
    started = time.process_time()
    predictions = [engine.find(ex.text) for ex in examples]
    return score_predictions(examples, predictions, time.process_time() - started)


def score_predictions(examples: list[Example], predictions: list, cpu: float) -> dict:
    """Per gold kind: recall (char, span); per predicted kind: precision (char, span); overall.

    ``predictions`` holds, per example, objects with ``start``, ``end`` and ``kind`` (an
    enum or a string), so other engines' output can be scored the same way.
    """
    gold_chars: dict[str, int] = {}
    hit_chars: dict[str, int] = {}
    gold_spans: dict[str, int] = {}
    hit_spans: dict[str, int] = {}
    pred_chars: dict[str, int] = {}
    good_chars: dict[str, int] = {}
    pred_spans: dict[str, int] = {}
    good_spans: dict[str, int] = {}
    for ex, pred in zip(examples, predictions, strict=True):
        covered = bytearray(len(ex.text) + 1)
        for s in pred:
            covered[s.start:s.end] = b"\x01" * (s.end - s.start)
        gold = bytearray(len(ex.text) + 1)
        for start, end, kind in ex.spans:
            gold[start:end] = b"\x01" * (end - start)
            n = end - start
            hit = sum(covered[start:end])
            gold_chars[kind] = gold_chars.get(kind, 0) + n
            hit_chars[kind] = hit_chars.get(kind, 0) + hit
            gold_spans[kind] = gold_spans.get(kind, 0) + 1
            hit_spans[kind] = hit_spans.get(kind, 0) + (hit * 2 >= n)
        for s in pred:
            k = getattr(s.kind, "value", s.kind)
            n = s.end - s.start
            good = sum(gold[s.start:s.end])
            pred_chars[k] = pred_chars.get(k, 0) + n
            good_chars[k] = good_chars.get(k, 0) + good
            pred_spans[k] = pred_spans.get(k, 0) + 1
            good_spans[k] = good_spans.get(k, 0) + (good * 2 >= n)
    recall = {k: {"char": hit_chars[k] / gold_chars[k], "span": hit_spans[k] / gold_spans[k], "spans": gold_spans[k]}
              for k in sorted(gold_chars)}
    precision = {k: {"char": good_chars[k] / pred_chars[k], "span": good_spans[k] / pred_spans[k], "spans": pred_spans[k]}
                 for k in sorted(pred_chars)}
    r_char = sum(hit_chars.values()) / max(1, sum(gold_chars.values()))
    p_char = sum(good_chars.values()) / max(1, sum(pred_chars.values()))
    r_span = sum(hit_spans.values()) / max(1, sum(gold_spans.values()))
    p_span = sum(good_spans.values()) / max(1, sum(pred_spans.values()))
    kb = sum(len(ex.text.encode()) for ex in examples) / 1024
    return {
        "overall": {
            "char": {"precision": p_char, "recall": r_char, "f2": _f2(p_char, r_char)},
            "span": {"precision": p_span, "recall": r_span, "f2": _f2(p_span, r_span)},
        },
        "recall_by_gold_kind": recall,
        "precision_by_predicted_kind": precision,
        "kb_per_cpu_second": kb / cpu if cpu else float("inf"),
        "texts": len(examples),
    }


def load_plain(path: Path) -> list[Example]:
    """Texts with nothing annotated (BANKING77 queries): every span found is counted as
    over-redaction, though a few may be real identifiers nobody labelled."""
    import csv

    with path.open(encoding="utf-8") as handle:
        return [Example(row["text"], []) for row in csv.DictReader(handle)]


CX_SETS = {"cx_dev": Path(__file__).with_name("data") / "cx_dev.txt",
           "cx_held_out": Path(__file__).with_name("data") / "cx_held_out.txt"}
_MARK = re.compile(r"\{\{([A-Z_]+):(.+?)\}\}")
_PSEUDONYM = re.compile(r"\[[A-Z_]+_\d+\]")
_GLUED = re.compile(r"[^\W_]\[[A-Z_]+_\d+\]|\[[A-Z_]+_\d+\][^\W_]")
STRUCTURED = frozenset({"EMAIL", "PHONE", "SSN", "DATE", "AGE", "ADDRESS", "ZIP", "ID", "CLAIM", "URL"})


def load_marked(path: Path) -> list[Example]:
    """Our CX sets: one text per line, ``\\n`` for a line break, ``{{KIND:value}}`` around
    each identifier."""
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        line = line.replace("\\n", "\n")
        text, spans, pos = [], [], 0
        length = 0
        for m in _MARK.finditer(line):
            text.append(line[pos:m.start()])
            length += m.start() - pos
            spans.append((length, length + len(m.group(2)), m.group(1)))
            text.append(m.group(2))
            length += len(m.group(2))
            pos = m.end()
        text.append(line[pos:])
        examples.append(Example("".join(text), spans))
    return examples


def cx_figures(examples: list[Example], engine: Deidentifier) -> dict:
    """What a reader of the stored evidence would see: the share of words that are not
    identifiers left unchanged (damage), markers glued to letters, identifier characters
    replaced (all kinds, and the shaped ones), the share of texts with an identifier still
    readable (3 or more of its letters or digits in a row left), and what was left."""
    words = kept = glued = gold_chars = covered = s_chars = s_covered = leaked_docs = 0
    residues: list[tuple[str, str]] = []
    damaged: list[tuple[str, str]] = []
    for ex in examples:
        result = engine.deidentify(ex.text)
        replaced = [(r.start, r.end) for r in result.replacements]
        glued += len(_GLUED.findall(result.text))

        def hit(a: int, b: int) -> bool:
            return any(s < b and a < e for s, e in replaced)

        for m in re.finditer(r"[^\W_]+", ex.text):
            if any(gs <= m.start() < ge for gs, ge, _k in ex.spans):
                continue
            words += 1
            if hit(m.start(), m.end()):
                damaged.append((m.group(), ex.text[:60]))
            else:
                kept += 1
        leaked = False
        for gs, ge, kind in ex.spans:
            mask = [any(s <= i < e for s, e in replaced) for i in range(gs, ge)]
            gold_chars += ge - gs
            covered += sum(mask)
            if kind in STRUCTURED:
                s_chars += ge - gs
                s_covered += sum(mask)
            left = "".join(ch if not m else " " for ch, m in zip(ex.text[gs:ge], mask, strict=True))
            if re.search(r"[^\W_]{3,}", left):
                leaked = True
                residues.append((kind, ex.text[gs:ge]))
        leaked_docs += leaked
    return {
        "texts": len(examples), "words": words, "words_kept": kept / words if words else 1.0,
        "damaged": damaged, "glued_markers": glued,
        "recall_char": covered / gold_chars if gold_chars else 1.0,
        "structured_recall_char": s_covered / s_chars if s_chars else 1.0,
        "documents_leaking": leaked_docs / len(examples) if examples else 0.0, "residues": residues,
    }


def _print_cx(name: str, f: dict) -> None:
    print(f"\n== {name}: {f['texts']} texts, {f['words']} words that are not identifiers")
    print(f"  non-identifier words unchanged {f['words_kept']:.4f}   markers glued to letters {f['glued_markers']}")
    print(f"  identifier chars replaced {f['recall_char']:.3f}   shaped identifiers (not names, places) "
          f"{f['structured_recall_char']:.3f}")
    print(f"  texts with an identifier still readable {f['documents_leaking']:.3f}")
    for kind, value in f["residues"]:
        print(f"    left: {kind:<9} {value!r}")
    for word, where in f["damaged"]:
        print(f"    changed: {word!r} in {where!r}")


MEASURED = Path(__file__).with_name("data") / "measured.json"


def record(cx: dict, results: dict) -> dict:
    """The figures a study's de-identification page shows (NIST SP 800-188: tell users how
    well the method works), with the date they were measured."""
    import datetime

    presidio, wnut = results["presidio_synth_v2"]["overall"]["char"], results["wnut17_dev"]
    measured = {
        "measured_on": datetime.date.today().isoformat(),
        "figures": [
            {"set": "CX set B (49 texts written by the project after the rules were tuned on set A; fixes since)", "what": "words that are not identifiers left unchanged",
             "value": round(cx["cx_held_out"]["words_kept"], 4)},
            {"set": "CX set B", "what": "identifier characters replaced",
             "value": round(cx["cx_held_out"]["recall_char"], 4)},
            {"set": "CX set B", "what": "texts with an identifier still readable",
             "value": round(cx["cx_held_out"]["documents_leaking"], 4)},
            {"set": "Presidio synthetic set (1,500 texts, public)", "what": "identifier characters replaced (recall)",
             "value": round(presidio["recall"], 4)},
            {"set": "Presidio synthetic set", "what": "replaced characters that were identifiers (precision)",
             "value": round(presidio["precision"], 4)},
            {"set": "WNUT-17 dev (social media, public; the threshold was tuned on it)",
             "what": "person name characters replaced", "value": round(wnut["recall_by_gold_kind"]["PERSON"]["char"], 4)},
        ],
    }
    MEASURED.write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")
    return measured


def datasets(data: Path) -> dict[str, list[Example]]:
    sets = {
        "presidio_synth_v2": load_presidio(data / "presidio_synth_dataset_v2.json"),
        "wnut17_dev": load_conll(data / "wnut17_dev.conll"),
        "wnut17_train": load_conll(data / "wnut17_train.conll"),
    }
    banking = data.parent / "themes" / "banking77" / "test.csv"
    if banking.exists():
        sets["banking77_test (nothing annotated)"] = load_plain(banking)
    return sets


def _print(name: str, result: dict, examples: list[Example]) -> None:
    o = result["overall"]
    print(f"\n== {name}: {result['texts']} texts, {result['kb_per_cpu_second']:.0f} KB/CPU-s")
    if not result["recall_by_gold_kind"]:
        print("  spans found, by kind (every one counted as over-redaction):")
        for k, m in result["precision_by_predicted_kind"].items():
            print(f"    {k:<18} {m['spans']}")
        found = sum(m["spans"] for m in result["precision_by_predicted_kind"].values())
        print(f"  {found} spans in {result['texts']} texts ({sum(len(e.text) for e in examples)} characters)")
        return
    for level in ("char", "span"):
        m = o[level]
        print(f"  {level:<5} precision {m['precision']:.3f}  recall {m['recall']:.3f}  F2 {m['f2']:.3f}")
    print("  recall by gold kind (char / span, n spans):")
    for k, m in result["recall_by_gold_kind"].items():
        print(f"    {k:<18} {m['char']:.3f} / {m['span']:.3f}  ({m['spans']})")
    print("  precision by predicted kind (char / span, n spans):")
    for k, m in result["precision_by_predicted_kind"].items():
        print(f"    {k:<18} {m['char']:.3f} / {m['span']:.3f}  ({m['spans']})")


def main() -> None:
    parser = argparse.ArgumentParser(description="Evaluate nlp.deid on the public data sets.")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--record", action="store_true",
                        help=f"also write the headline figures, dated, to {MEASURED} (shown to users per study)")
    args = parser.parse_args()
    engine = Deidentifier().fit()
    cx = {name: cx_figures(load_marked(path), engine) for name, path in CX_SETS.items() if path.exists()}
    if not args.json:
        print("CX sets (nlp/deid/data, written by this project): cx_dev was looked at while tuning; "
              "cx_held_out was written after and measured once.")
        for name, figures in cx.items():
            _print_cx(name, figures)
    if not (args.data / "presidio_synth_dataset_v2.json").exists():
        print(f"\nThe public sets are not in {args.data}: set RESEARCH_REPO_EVAL_DATA (see SOURCES.md).")
        if args.json:
            print(json.dumps({"cx": cx}, indent=2))
        return
    if args.record and not (args.data / "presidio_synth_dataset_v2.json").exists():
        raise SystemExit("--record needs the public sets too: set RESEARCH_REPO_EVAL_DATA.")
    sets = datasets(args.data)
    sets["presidio_synth_v2 (policy view)"] = policy_view(sets["presidio_synth_v2"])
    results = {name: score(examples, engine) for name, examples in sets.items()}
    if args.record:
        record(cx, results)
    if args.json:
        print(json.dumps({"cx": cx, **results}, indent=2))
        return
    print("Attribution: Presidio synthetic set (MIT, microsoft/presidio-research); WNUT-17 (CC BY 4.0, Derczynski et al. 2017).")
    print("WNUT-17 train is also training data for the person tagger: its figures are not held out.")
    print("Policy view: without gold spans kept on purpose (countries, US states, ages <= 89, a bare year/weekday/month).")
    print("BANKING77 test (CC BY 4.0, Casanueva et al. 2020) has no annotations: its spans measure over-redaction.")
    for name, result in results.items():
        _print(name, result, sets[name])


if __name__ == "__main__":
    main()
