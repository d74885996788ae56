"""Person names on social-media text no one tuned on: grouped cross-validation on WNUT-17 train.

    python -m nlp.deid.heldout [--folds 5] [--data PATH]

The shipped tagger learns from all of WNUT-17 train and its threshold was chosen on WNUT-17
dev, so neither set says how it does on new text. Here WNUT-17 train is cut into folds; for
each fold a tagger is trained, the way ``nlp.deid.train`` trains the shipped one, on the other
folds *minus every text that mentions a name the held-out fold mentions*, so the held-out
names are new to it, as the names in the emerging-entities test set are by design. The whole
engine (rules, lists, threshold 0.032 as shipped) then runs on the held-out fold.

Printed per fold and pooled: person recall (characters of gold person names replaced),
person precision (characters the engine labelled PERSON that are gold names or handles),
and the precision of everything it replaced against the gold persons and locations and the
@handles and links WNUT leaves untagged (see ``policy_view``). Needs the embedding model
(``requirements/embedding-model.txt``) and the public sets (``RESEARCH_REPO_EVAL_DATA``).
"""
from __future__ import annotations

import argparse
import random
import re
import time
from pathlib import Path

from nlp import evaldata

from .engine import Deidentifier
from .evaluate import load_conll, score_predictions
from .person import PersonTagger
from .train import training_data, word_pieces


def _names(labels: list[int], tokens: list[str]) -> set[str]:
    names, run = set(), []
    for tok, tag in zip(tokens + ["."], labels + [0], strict=True):
        if tag:
            run.append(tok.lower())
        elif run:
            names.add(" ".join(run))
            run = []
    return names


_POLICY = re.compile(r"(?<![\w@])@\w{2,}|\bhttps?://\S+")


def policy_view(example):
    """WNUT-17 leaves @handles and links untagged; this engine replaces both by policy (a
    handle names its owner), so they count as identifiers here, not as false alarms."""
    from .evaluate import Example

    extra = [(m.start(), m.end(), "HANDLE" if m.group().startswith("@") else "URL")
             for m in _POLICY.finditer(example.text)]
    return Example(example.text, sorted(example.spans + extra))


def folds(n_texts: int, k: int, seed: int) -> list[list[int]]:
    order = list(range(n_texts))
    random.Random(seed).shuffle(order)
    return [sorted(order[i::k]) for i in range(k)]


def run(data: Path, k: int = 5, seed: int = 0, C: float = 0.25) -> dict:
    wnut_path = data / "deid" / "wnut17_train.conll"
    examples = [policy_view(ex) for ex in load_conll(wnut_path)]
    # WNUT-17 train first, then the synthetic templates, sentences without names and BANKING77
    # queries, as for the shipped model.
    all_seqs, all_labels = training_data(wnut_path, data / "themes" / "banking77" / "train.csv", seed=seed)
    n = len(examples)
    seqs, labels, extra_seqs, extra_labels = all_seqs[:n], all_labels[:n], all_seqs[n:], all_labels[n:]
    pieces = word_pieces()
    lowered = [" " + " ".join(t.lower() for t in toks) + " " for toks in seqs]
    pooled: list = []
    pooled_examples: list = []
    per_fold = []
    for f, held in enumerate(folds(len(seqs), k, seed)):
        held_set = set(held)
        names = set().union(*(_names(labels[i], seqs[i]) for i in held))
        pattern = re.compile("|".join(" " + re.escape(n) + " " for n in sorted(names, key=len, reverse=True))) if names else None
        train_idx = [i for i in range(len(seqs)) if i not in held_set and not (pattern and pattern.search(lowered[i]))]
        dropped = len(seqs) - len(held) - len(train_idx)
        started = time.process_time()
        tagger = PersonTagger(C=C).fit([seqs[i] for i in train_idx] + extra_seqs,
                                       [labels[i] for i in train_idx] + extra_labels, pieces)
        fit_cpu = time.process_time() - started
        engine = Deidentifier().fit()
        tagger.threshold = engine.person_threshold
        engine.tagger_ = tagger
        fold_examples = [examples[i] for i in held]
        started = time.process_time()
        predictions = [engine.find(ex.text) for ex in fold_examples]
        result = score_predictions(fold_examples, predictions, time.process_time() - started)
        per_fold.append(_summary(result) | {"held_out": len(held), "train_texts": len(train_idx),
                                            "dropped_for_shared_names": dropped, "fit_cpu_s": round(fit_cpu, 1)})
        pooled += predictions
        pooled_examples += fold_examples
        print(f"fold {f + 1}/{k}: {_line(per_fold[-1])}  (trained on {len(train_idx)} texts, "
              f"{dropped} dropped for sharing a held-out name; fit {fit_cpu:.0f} CPU-s)", flush=True)
    total = _summary(score_predictions(pooled_examples, pooled, 1.0))
    return {"folds": per_fold, "pooled": total}


def _summary(result: dict) -> dict:
    person_gold = result["recall_by_gold_kind"].get("PERSON", {"char": 0.0, "span": 0.0, "spans": 0})
    person_pred = result["precision_by_predicted_kind"].get("PERSON", {"char": 0.0, "span": 0.0, "spans": 0})
    return {
        "person_recall_char": round(person_gold["char"], 4), "person_recall_span": round(person_gold["span"], 4),
        "person_spans": person_gold["spans"],
        "person_precision_char": round(person_pred["char"], 4), "person_predicted_spans": person_pred["spans"],
        "all_precision_char": round(result["overall"]["char"]["precision"], 4),
    }


def _line(s: dict) -> str:
    return (f"person recall {s['person_recall_char']:.3f} char / {s['person_recall_span']:.3f} span "
            f"({s['person_spans']} names), person precision {s['person_precision_char']:.3f}, "
            f"all replaced that is an entity {s['all_precision_char']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=evaldata.root())
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--record", action="store_true", help="also write the pooled person recall to measured.json")
    args = parser.parse_args()
    if not (args.data / "deid" / "wnut17_train.conll").exists():
        raise SystemExit(f"WNUT-17 train is not under {args.data}/deid: set RESEARCH_REPO_EVAL_DATA (see SOURCES.md).")
    result = run(args.data, args.folds, args.seed)
    print(f"pooled over {args.folds} folds: {_line(result['pooled'])}")
    print("Attribution: WNUT-17 (CC BY 4.0, Derczynski et al. 2017).")
    if args.record:
        record(result["pooled"], args.folds)


def record(pooled: dict, k: int) -> None:
    """Put the held-out person recall beside the figures ``nlp.deid.evaluate --record`` wrote."""
    import json
    from datetime import date

    from .evaluate import MEASURED

    measured = json.loads(MEASURED.read_text(encoding="utf-8"))
    name = f"WNUT-17 train, {k} held-out folds (social media; names new to the tagger)"
    measured["figures"] = [f for f in measured["figures"] if not f["set"].startswith("WNUT-17 train,")] + [
        {"set": name, "what": "person name characters replaced", "value": pooled["person_recall_char"],
         "measured_on": date.today().isoformat()}]
    MEASURED.write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
