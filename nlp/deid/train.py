"""Train the person tagger and write ``data/person_model.npz``.

    python -m nlp.deid.train [--wnut PATH] [--banking PATH] [--seed 0]

Training data: WNUT-17 *train* (CC BY 4.0, Derczynski et al. 2017), our own customer-
experience sentence templates filled with public-domain 1990 US Census names, sentences
without names that mention countries, nationalities, organizations named after people
and jobs, and BANKING77 *train* queries (CC BY 4.0, Casanueva et al. 2020) as text without
names. The Presidio synthetic set and WNUT-17 dev are never used here: they are the
evaluation.

Word vectors come from all-MiniLM-L6-v2's WordPiece input embeddings (Apache-2.0), read
from the embedding model wheel (requirements/embedding-model.txt): training needs it, the
shipped tagger does not (see ``person.py``).
"""
from __future__ import annotations

import argparse
import csv
import random
import time
from pathlib import Path

import numpy as np

from .. import evaldata
from .lexicon import load
from .person import MODEL_PATH, PersonTagger, WordPieces, tokenize

SHARED = evaldata.root()

# {F} first name, {L} surname, {N} full name; everything else is literal text.
TEMPLATES = [
    "My name is {N} and I retired from the VA in December.",
    "Hi, this is {F} from Retirement Services returning your call.",
    "I spoke with {N} on the phone and she said the claim was still pending.",
    "{F}: I called three times about my interim pay.",
    "{N}: The letter never arrived.",
    "Moderator: Thanks {F}, can you say more about that?",
    "Ms. {L} explained the survivor annuity forms.",
    "Mr. {L} from my agency sent the paperwork in January.",
    "Sgt. {L} helped me with the service history.",
    "Dr. {N} signed the disability form.",
    "My husband {F} passed away last spring and I applied for the survivor benefit.",
    "Please call {F} back at the number on file.",
    "Dear {F}, your application has been received.",
    "Thanks {F}!",
    "cc: {N}",
    "Agent {N} escalated the ticket.",
    "{N} said the FEHB premium was wrong.",
    "I asked {F} whether Services Online would show the status.",
    "According to {F} {L}, the file was incomplete.",
    "{F} and {F2} both told me to wait.",
    "The caller, {N}, wants to update the direct deposit.",
    "Customer {N} reports that Login.gov rejected the documents.",
    "Annuitant {N} called about the tax form.",
    "When I reached {F} she was kind and actually looked at my file.",
    "{L} told me the computation would take another month.",
    "I'm {F}, I worked at the IRS for thirty years.",
    "Contact: {N}",
    "From: {N}",
    "Spoke to {F} in HR who said to email OPM.",
    "my name is {n} and i need help with my annuity",
    "talked to {f} on the phone today",
    "{n} from the help desk never called back",
    "thanks {f} for your help",
    "INTERVIEWER: Welcome {F}. {F2}: Thank you.",
    "{U} CALLED ABOUT THE MISSING PAYMENT",
    "P2 ({F}): The people on the phone were helpful.",
    "Signed, {N}",
    "{N}, a retired letter carrier, said the forms were confusing.",
    "My daughter {F} helped me fill in the forms online.",
    "I work with {F} {L} and {F2} at the agency.",
    "Name: {N}",
    "Name: {N}\nPhone: 555 0100",
    "{F} had given the forms to the agency.",
    "She named him {F}.",
    "Have you been to a {N} concert?",
    "This song by {L} is a perfect example.",
    "{F} spent a year abroad before joining the agency.",
    "The true story of {F} was never told.",
    "I'm {f}'s daughter and I handle her benefits.",
    "You can tell she was a huge {N} fan.",
    "Written by {N} in the newsletter.",
    "{N}\n\nRetirement Services",
    "Participants: {F}, {F2} and {L}.",
    "We met {F} and {F2} at the benefits fair.",
    "{F} {L} ({F2}) said the website was confusing.",
    "Interviewed by {N}.",
    "Do you know {F}?",
    "Ask {F} about the deposit.",
]
_ACCENTS = {"a": "áàäåã", "e": "éèëě", "i": "íï", "o": "óöøô", "u": "úüů", "c": "čç", "s": "šś", "z": "žź",
            "n": "ñň", "r": "ř", "y": "ý", "l": "ł", "g": "ğ"}
_SYLLABLES = ("ka ri to na mi sa ko ha yu ta ne ro li va de jo an el is ul or ek ma sh ch zu ba ga da lo "
              "ni ru bi ko ja ve sta mir dra vi ole tsu hi ak ar in").split()


def _accented(name: str, rng: random.Random) -> str:
    chars = list(name)
    for i, ch in enumerate(chars):
        options = _ACCENTS.get(ch.lower())
        if options and rng.random() < 0.3:
            new = rng.choice(options)
            chars[i] = new.upper() if ch.isupper() else new
    return "".join(chars)


def _invented(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3, 3, 4))))
NEGATIVE = [
    "Thanks for joining. Can you walk me through what happened after you applied?",
    "Retirement Services processes more than one hundred thousand claims each year.",
    "Services Online would not let me in.",
    "The FEHB premium came out of the interim payments.",
    "USAJOBS asked me to upload my resume again.",
    "Dear Sir or Madam, I am writing about my annuity.",
    "On Monday I called the Retirement Information Office.",
    "The Office of Personnel Management sent a letter in March.",
    "Login.gov asked for documents I did not have.",
    "Please Help! The Payment Is Late Again.",
    "I worked for the Department of Veterans Affairs in Denver.",
    "Moderator: How did that change how you felt about the process?",
    "P1: It was the worst time of my life.",
    "THE CHECK NEVER ARRIVED AND NOBODY CALLED BACK",
    "Federal Employees Retirement System and Civil Service Retirement System.",
]


# Sentences with no person in them whose capitalized words are easy to take for names:
# countries, nationalities, organizations named after people, job titles.
NOT_NAMES = [
    "My family came from {C} when I was a child.", "I was stationed in {C} for two years.",
    "We visited {C} last summer.", "{C} has a different pension system.", "My pension from {C} is separate.",
    "My mother is {D}.", "The {D} embassy sent the forms.", "Our neighbours are {D}.",
    "I work for {O}.", "{O} is hiring again.", "The {O} office is downtown.", "She left {O} in 2019.",
    "{O} sent me a letter about the premium.", "I worked at {O} for ten years.", "Our {O} account was closed.",
    "I retired as a {J} after twenty years.", "He works as a {J} at {O}.", "My job title was Senior {JT}.",
]
DEMONYMS = ("American Mexican Canadian Brazilian Chinese Indian Nigerian Filipino Vietnamese Korean Japanese German "
            "French Italian Spanish Polish Russian Ukrainian Irish Scottish British Dutch Swedish Norwegian Danish "
            "Finnish Greek Turkish Iranian Iraqi Afghan Pakistani Egyptian Ethiopian Somali Kenyan Haitian Cuban "
            "Dominican Salvadoran Guatemalan Honduran Colombian Venezuelan Peruvian Chilean Jamaican Serbian").split()
ORG_SUFFIXES = ("Inc Inc. LLC Group Corporation Corp. Technologies Software Insurance Bank Partners Foundation "
                "Orchestra Associates Holdings Labs Systems University Hospital Council Media Records Consulting "
                "Solutions Analytics Capital Health").split()
JOBS = ("nurse teacher accountant engineer mechanic packager technician electrician plumber cashier paralegal "
        "analyst librarian pharmacist carpenter welder clerk auditor dispatcher courier chef surveyor").split()


def _surnames() -> list[str]:
    """The 40,000 most common Census surnames, most common first."""
    ranks = load().last_rank
    return sorted(ranks, key=ranks.get)[:40000]


def _not_names(rng: random.Random, n: int) -> tuple[list[list[str]], list[list[int]]]:
    import pycountry

    lasts = _surnames()
    countries = sorted(c.name for c in pycountry.countries if len(c.name) < 25)
    seqs, labels = [], []
    for _ in range(n):
        surname = rng.choice(lasts[: rng.choice((300, 3000, 40000))]).capitalize()
        invented = _invented(rng).capitalize()
        org = rng.choice([f"{surname} {rng.choice(ORG_SUFFIXES)}", f"{surname} & {rng.choice(lasts[:3000]).capitalize()}",
                          f"{invented} {rng.choice(ORG_SUFFIXES)}", invented + rng.choice(("ify", "ly", "io", "ex", "soft"))])
        job = rng.choice(JOBS)
        values = {"C": rng.choice(countries), "D": rng.choice(DEMONYMS), "O": org, "J": job, "JT": job.capitalize()}
        text = "".join(values[p[1:-1]] if p.startswith("{") else p for p in _split(rng.choice(NOT_NAMES)))
        toks, tags = _label_text(text, [])
        seqs.append(toks)
        labels.append(tags)
    return seqs, labels


def word_pieces(dims: int = 48) -> WordPieces:
    """all-MiniLM-L6-v2's WordPiece input embeddings, reduced by PCA to ``dims`` whitened
    dimensions (fitted on the vocabulary past its first 1,000 unused and special entries)."""
    from sklearn.decomposition import PCA

    from nlp.themes.embed import _load

    tokenizer, embeddings, _ = _load()
    table = embeddings[0]
    pca = PCA(dims, random_state=0).fit(table[1000:])
    reduced = pca.transform(table) / np.sqrt(pca.explained_variance_)
    return WordPieces(tokenizer.to_str(), reduced.astype(np.float32))


def _wnut(path: Path) -> tuple[list[list[str]], list[list[int]]]:
    seqs, labels, toks, tags = [], [], [], []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line.strip():
                if toks:
                    seqs.append(toks)
                    labels.append(tags)
                toks, tags = [], []
                continue
            parts = line.split("\t")
            toks.append(parts[0])
            tags.append(int(parts[-1].endswith("person")))
    if toks:
        seqs.append(toks)
        labels.append(tags)
    return seqs, labels


def _label_text(text: str, spans: list[tuple[int, int]]) -> tuple[list[str], list[int]]:
    toks = tokenize(text)
    return [t for _, _, t in toks], [int(any(s <= a and b <= e for s, e in spans)) for a, b, _ in toks]


def _templates(rng: random.Random, n: int) -> tuple[list[list[str]], list[list[int]]]:
    lex = load()
    firsts = sorted(lex.first_rank, key=lex.first_rank.get)
    lasts = _surnames()
    seqs, labels = [], []
    for _ in range(n):
        template = rng.choice(TEMPLATES)
        case = rng.random()
        values = {}
        for key in ("F", "F2", "L"):
            pool = firsts if key != "L" else lasts
            # Surnames serve as given names too: the Census first-name list is mostly Western.
            if key != "L" and rng.random() < 0.25:
                pool = lasts
            roll = rng.random()
            if roll < 0.15:
                name = _invented(rng).capitalize()  # a name no list holds
            else:
                name = rng.choice(pool[: rng.choice((200, 2000, len(pool)))]).capitalize()
                if roll < 0.4:
                    name = _accented(name, rng)
            values[key] = name.lower() if case < 0.3 else name.upper() if case < 0.37 else name
        values["N"] = f"{values['F']} {values['L']}"
        values["n"], values["f"] = values["N"].lower(), values["F"].lower()
        values["U"] = values["N"].upper()
        text, spans = "", []
        for piece in _split(template):
            if piece.startswith("{"):
                value = values[piece[1:-1]]
                spans.append((len(text), len(text) + len(value)))
                text += value
            else:
                text += piece
        toks, tags = _label_text(text, spans)
        seqs.append(toks)
        labels.append(tags)
    return seqs, labels


def _split(template: str) -> list[str]:
    import re

    return [p for p in re.split(r"(\{[A-Za-z0-9]+\})", template) if p]


def training_data(wnut: Path, banking: Path, templates: int = 30000, not_names: int = 4000,
                  seed: int = 0) -> tuple[list[list[str]], list[list[int]]]:
    """Token sequences and their 0/1 person tags: WNUT-17 train, name templates, sentences
    without names, BANKING77 queries."""
    seqs, labels = _wnut(wnut)
    print(f"WNUT-17 train: {len(seqs)} texts, {sum(map(sum, labels))} person tokens")
    for s, lab in (_templates(random.Random(seed), templates), _not_names(random.Random(seed + 1), not_names)):
        seqs += s
        labels += lab
    with banking.open(encoding="utf-8") as handle:
        bank = [row["text"] for row in csv.DictReader(handle)]
    for text in bank + NEGATIVE * 20:
        toks, tags = _label_text(text, [])
        seqs.append(toks)
        labels.append(tags)
    print(f"all: {len(seqs)} sequences, {sum(map(len, labels))} tokens, {sum(map(sum, labels))} person tokens")
    return seqs, labels


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the person tagger.")
    parser.add_argument("--wnut", type=Path, default=SHARED / "deid" / "wnut17_train.conll")
    parser.add_argument("--banking", type=Path, default=SHARED / "themes" / "banking77" / "train.csv")
    parser.add_argument("--templates", type=int, default=30000)
    parser.add_argument("--not-names", type=int, default=4000)
    parser.add_argument("--C", type=float, default=0.25, help="inverse regularization strength")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args()
    seqs, labels = training_data(args.wnut, args.banking, args.templates, args.not_names, args.seed)
    started = time.process_time()
    tagger = PersonTagger(C=args.C).fit(seqs, labels, word_pieces())
    print(f"fit in {time.process_time() - started:.1f} CPU-s; {int((tagger.coef_ != 0).sum())} non-zero weights")
    tagger.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
