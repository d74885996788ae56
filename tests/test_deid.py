"""nlp.deid: what each kind of identifier becomes, pseudonyms, roster, allow-list, summary."""
from __future__ import annotations

import json
from itertools import pairwise

import pytest

from nlp.deid import Deidentifier, Kind, Roster


@pytest.fixture(scope="module")
def engine():
    return Deidentifier().fit()


# (text, the identifier planted in it, the pseudonym kind it must become)
CASES = [
    ("Email me at maria.alvarez@example.com tomorrow.", "maria.alvarez@example.com", "EMAIL"),
    ("Call (202) 555-0143 ext. 12 after noon.", "(202) 555-0143 ext. 12", "PHONE"),
    ("My number is 2025550143.", "2025550143", "PHONE"),
    ("Reach me on +44 20 7946 0958 in London.", "+44 20 7946 0958", "PHONE"),
    ("Cell: 202.555.0143", "202.555.0143", "PHONE"),
    ("SSN 123-45-6789 on the form.", "123-45-6789", "SSN"),
    ("My ITIN is 912-78-1234.", "912-78-1234", "SSN"),
    ("social security number: 123456789", "123456789", "SSN"),
    ("Claim CSA 1234567 is pending.", "CSA 1234567", "CLAIM"),
    ("Survivor claim CSF2034567 was opened.", "CSF2034567", "CLAIM"),
    ("Ticket #INC-20391 was escalated.", "INC-20391", "ID"),
    ("Case number: 2024-118733 closed.", "2024-118733", "ID"),
    ("Employee ID E1938475 on file.", "E1938475", "ID"),
    ("Passport no. X12345678 expired.", "X12345678", "ID"),
    ("My driver's license number is U62928788557186", "U62928788557186", "ID"),
    ("Card 4111 1111 1111 1111 was charged.", "4111 1111 1111 1111", "CREDIT_CARD"),
    ("Pay to GB82 WEST 1234 5698 7654 32 today.", "GB82 WEST 1234 5698 7654 32", "IBAN"),
    ("See https://example.com/u/maria?id=7 for it.", "https://example.com/u/maria?id=7", "URL"),
    ("Login came from 203.0.113.77 at night.", "203.0.113.77", "IP"),
    ("Send it to 1600 Pennsylvania Avenue please.", "1600 Pennsylvania Avenue", "ADDRESS"),
    ("Mail goes to P.O. Box 4471 now.", "P.O. Box 4471", "ADDRESS"),
    ("Washington, DC 20500 is the ZIP.", "20500", "ZIP"),
    ("ZIP: 7412 SL", "7412 SL", "ZIP"),
    ("Postal code: 53-320 in the form.", "53-320", "ZIP"),
    ("We opened an office in Fortaleza 60115 last year.", "60115", "ZIP"),
    ("Send it to 6400 12 Timms Drive Suite 215 NUNGATTA Australia last night.", "NUNGATTA", "ADDRESS"),
    ("Send a new one to 05405 Wesselényi u. 94.\n Suite 741\n Öntésmajor\n Hungary 18695? I am away.", "18695",
     "ADDRESS"),
    ("Please return to 72134 Coronilla 3599\nNijmegen\n, GE\n Netherlands 62971 in case of an issue.", "62971",
     "ADDRESS"),
    ("It's in the corner of Dalbraut 99 and Frederikke Coves, near the bakery.", "Dalbraut 99 and Frederikke Coves",
     "ADDRESS"),
    ("I was born on March 3, 1931 in a small town.", "March 3, 1931", "DATE"),
    ("My mother is 94 years old and still sharp.", "94", "AGE"),
    ("We moved here from Fortaleza last year.", "Fortaleza", "LOCATION"),
    ("I spoke with Ms. Alvarez about it.", "Alvarez", "PERSON"),
    ("Sgt. Reyes signed the form.", "Reyes", "PERSON"),
    ("my name is jose garcia and i need help", "jose garcia", "PERSON"),
    ("THE AGENT TOLD MARIA ALVAREZ TO WAIT", "MARIA ALVAREZ", "PERSON"),
    ("Then Oluwaseun Adeyemi called back.", "Oluwaseun Adeyemi", "PERSON"),
    ("Nguyen Van Minh filed the claim.", "Nguyen Van Minh", "PERSON"),
    ("Hanne I. Kreutzmann from the agency is the speaker.", "I. Kreutzmann", "PERSON"),
    ("My grandfather was called Kevin Veitonen II, and he farmed.", "Veitonen II", "PERSON"),
    ("me and zoltan watched it twice lol", "zoltan", "PERSON"),  # lower case, in no US name list
    ("i asked marek about the form", "marek", "PERSON"),
    ("me and zoltan", "zoltan", "PERSON"),  # a short text: an uncommon word stays a name
]


@pytest.mark.parametrize(("text", "value", "kind"), CASES, ids=[c[2] + ":" + c[1] for c in CASES])
def test_each_kind_is_replaced(engine, text, value, kind):
    result = engine.deidentify(text)
    assert value not in result.text
    assert f"[{kind}_1]" in result.text, result.text


@pytest.mark.parametrize(
    "text",
    [
        "I called OPM about my FERS annuity and the TSP.",
        "USAJOBS and Login.gov both asked for my documents; Retirement Services never called.",
        "My FEHB premium went up in March.",
        "She is 45 years old.",  # only ages over 89 identify
        "I waited 70 minutes on hold on Monday.",
        "The letter said 3 to 5 business days.",
        "I waited in line 2 hours and then 45 minutes more.",
        "Form 1099 arrived in 2023 with the wrong amount.",
        "We read 5 Musicians Of The 70s last week.",
        "My birthday is on the weekend. I'll turn 52.",
        "Slovenia leader gives a speech.",  # countries are not identifiers
        "Canada, Mexico and Peru signed it.",
        "We saw lemurs, antelope and camels at the zoo.",  # ordinary words, in a capitalized text
        "Bot: Hello! How can I help?\nE-mail: below\nFax: none",  # a chat bot and form fields
        "Need to see last 10 transactions on my card.",  # "last" only ends like "St"
        "I work at Allstate Insurance Group now.",  # an organization, not a place
        "annuity",  # a search query or a label: a common lower-case word is not a name
        "interim pay delays",
    ],
)
def test_ordinary_text_is_left_alone(engine, text):
    assert engine.deidentify(text).text == text


@pytest.mark.parametrize(("text", "words"), [
    ("Canada, Mexico and Peru signed it.", {"Peru"}),
    ("We saw lemurs, antelope and camels at the zoo.", {"lemurs", "antelope"}),
])
def test_the_engine_overrules_the_tagger_on_countries_and_ordinary_words(engine, text, words):
    """The tagger alone takes these for names; the engine's rules keep them (see above)."""
    assert words <= {text[s.start:s.end] for s in engine.tagger_.find(text)}
    assert not [s for s in engine.find(text) if s.kind is Kind.PERSON]


def test_speaker_labels_that_are_names_are_redacted_and_roles_kept(engine):
    text = "MODERATOR: How was it?\nMARIA: Slow.\nP2: Same for me.\nJohn Smith: Awful."
    out = engine.deidentify(text).text
    assert out.startswith("MODERATOR: How was it?\n[PERSON_1]: Slow.\nP2: Same for me.\n[PERSON_2]: Awful.")


def test_every_mention_of_one_person_gets_one_pseudonym(engine):
    text = ("Maria Alvarez called on Monday. Later Maria wrote again, and Ms. Alvarez asked for a call back. "
            "Her neighbor Tomasz Kowalski called too.")
    out = engine.deidentify(text).text
    assert "Maria" not in out and "Alvarez" not in out and "Kowalski" not in out
    assert out.count("[PERSON_1]") == 3
    assert "[PERSON_2]" in out


def test_a_name_found_once_is_redacted_everywhere_in_the_text(engine):
    # "Will Price" alone is ambiguous; once the tagger finds "Will Price" the later "Price" goes too.
    text = "I spoke with Will Price. Later Price said the claim was approved."
    out = engine.deidentify(text).text
    assert "Price" not in out


def test_roster_names_are_always_redacted_and_never_stored_in_clear():
    roster = Roster.from_names(b"study-key", ["New River"])
    assert all(len(d) == 64 and "river" not in d.lower() for d in roster.digests)
    text = "the new river said hello"
    assert Deidentifier().fit().deidentify(text).text == text  # ordinary words: the tagger leaves them
    assert Deidentifier(roster=roster).fit().deidentify(text).text == "the [PERSON_1] said hello"
    other_key = Roster.from_names(b"another-study", ["New River"])
    assert other_key.digests.isdisjoint(roster.digests)  # hashes are keyed per study


def test_allow_list_can_be_extended():
    text = "The Denver Service Center answered."
    assert Deidentifier(allow=["Denver Service Center"]).fit().deidentify(text).text == text


def test_summary_holds_counts_and_offsets_never_values(engine):
    planted = ["Maria Alvarez", "123-45-6789", "maria@example.com", "CSA 1234567"]
    result = engine.deidentify(f"{planted[0]} (SSN {planted[1]}, {planted[2]}) asked about {planted[3]}.")
    summary = json.dumps(result.summary())
    assert not any(p in summary for p in planted)
    assert result.counts == {"PERSON": 1, "SSN": 1, "EMAIL": 1, "CLAIM": 1}
    for kind, start, end in result.summary()["replacements"]:
        assert result.text[start:end].startswith(f"[{kind}_")


def test_find_returns_sorted_non_overlapping_spans_with_provenance(engine):
    spans = engine.find("Maria Alvarez lives at 24 Clarke Avenue, email maria@example.com.")
    assert spans == sorted(spans)
    assert all(a.end <= b.start for a, b in pairwise(spans))
    assert {s.kind for s in spans} == {Kind.PERSON, Kind.ADDRESS, Kind.EMAIL}
    assert all(s.detector and 0 < s.score <= 1 for s in spans)


def test_estimator_contract():
    engine = Deidentifier(person_threshold=0.5)
    assert engine.get_params()["person_threshold"] == 0.5
    assert not hasattr(engine, "detectors_")
    assert engine.fit() is engine and hasattr(engine, "detectors_")
    assert engine.transform(["Call 202-555-0143", "no identifiers here"]) == ["Call [PHONE_1]", "no identifiers here"]


def test_known_names_redact_every_mention_with_one_pseudonym():
    from nlp.deid.engine import Deidentifier

    result = Deidentifier().fit().deidentify(
        "Thanks, will do. Will said the form was lost. Okafor called back; ms. okafor agreed.",
        names=["Will Okafor"],
    )
    # The honorific is part of the name ("ms. okafor" is one span), as the OPM sets annotate it.
    assert result.text == (
        "Thanks, will do. [PERSON_1] said the form was lost. [PERSON_1] called back; [PERSON_1] agreed."
    )


def test_the_shipped_tagger_needs_neither_the_embedding_model_nor_themes():
    """Word-vector weights and the WordPiece tokenizer ship in person_model.npz: blocking the
    MiniLM model package and nlp.themes changes nothing for de-identification."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['nlp.themes'] = None; sys.modules['nlp.themes.embed'] = None; "
        "sys.modules['all_minilm_l6_v2'] = None; sys.modules['safetensors'] = None\n"
        "from nlp.deid import Deidentifier\n"
        "print(Deidentifier().fit().deidentify('me and zoltan watched it twice lol').text)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "me and [PERSON_1] watched it twice lol"


@pytest.mark.parametrize(("text", "kept", "address"), [
    ("The address of Compliance And Risks is 9554 Rue Gafsa Apt. 981", "Compliance And Risks", "9554 Rue Gafsa Apt. 981"),
    ("How do I change the address linked to my card to Rua do Paseo 46?", "linked to my card", "Rua do Paseo 46"),
])
def test_an_address_cue_with_a_subject_redacts_the_address_only(engine, text, kept, address):
    out = engine.deidentify(text).text
    assert kept in out and address not in out and "[ADDRESS_1]" in out, out


def test_a_place_stops_at_a_possessive(engine):
    out = engine.deidentify("I moved here from Fortaleza's east side.").text
    assert out == "I moved here from [LOCATION_1]'s east side."


def test_detectors_are_a_list_the_engine_is_given():
    """An agency adds its own identifier shape to the defaults; a detector that is not one
    is refused when the engine is fitted; an empty list leaves only the person tagger."""
    import re

    from nlp.deid import Deidentifier, Kind, Span, default_detectors

    class CaseNumber:
        name, kind = "opm_case", Kind.ID

        def find(self, text):
            for m in re.finditer(r"\bRS-\d{6}\b", text):
                yield Span(m.start(), m.end(), self.kind, self.name, 0.9)

    text = "The letter said RS-204518 would close Friday; write to maria.alvarez@example.com."
    assert "RS-204518" in Deidentifier().fit().deidentify(text).text  # not a shape we know by default
    custom = Deidentifier(detectors=[*default_detectors(), CaseNumber()]).fit().deidentify(text).text
    assert custom == "The letter said [ID_1] would close Friday; write to [EMAIL_1]."
    assert Deidentifier(detectors=[], kinds=[Kind.EMAIL]).fit().deidentify(text).text == text
    with pytest.raises(TypeError, match="is not a detector"):
        Deidentifier(detectors=["not a detector"]).fit()


# ---- damage on CX text: each case once came out wrong (in the comment), now as shown

@pytest.mark.parametrize(("text", "expected"), [
    # A place swallowed part of the next word ("[LOCATION_1]d back", "...st November", "...ter").
    ("I drove to Tulsa and back the same day.", "I drove to [LOCATION_1] and back the same day."),
    ("We met in Denver last November and again in Boise later.",
     "We met in [LOCATION_1] last November and again in [LOCATION_2] later."),
    ("She lives in Yazoo City and works from home.", "She lives in [LOCATION_1] and works from home."),
    # After a full name, every sentence-initial "He" was a person.
    ("John Smith called on Monday. He said the letter was late. He asked again.",
     "[PERSON_1] called on Monday. He said the letter was late. He asked again."),
    # A title inside the name; a lone one no name; a state in an address and its ZIP code.
    ("The caller, Mrs. Okafor, asked again.", "The caller, [PERSON_1], asked again."),
    ("Medicare Part B and FEHB coordination confused everyone.",
     "Medicare Part B and FEHB coordination confused everyone."),
    ("He mailed it to 1234 Elm Street, Apt 5B, Springfield, Virginia 22150.",
     "He mailed it to [ADDRESS_1], Virginia [ZIP_1]."),
    ("Please update my address to 77 Harbor Road, Mystic, CT 06355.",
     "Please update my address to [ADDRESS_1], CT [ZIP_1]."),
    # Very common words are not names though someone has them as a surname; nor a sentence's
    # first word before a name.
    ("Agent read back the routing number. P2: A friend from church told me.",
     "Agent read back the routing number. P2: A friend from church told me."),
    ("Reach Tom at the help desk.", "Reach [PERSON_1] at the help desk."),
    # An IP address at a sentence's end was missed; an IPv6 address with "::" was cut in two.
    ("The server at 10.0.0.12. Then it failed.", "The server at [IP_1]. Then it failed."),
    ("Connect from fe80::1ff:fe23:4567:890a today.", "Connect from [IP_1] today."),
    ("Meet at 10:30:00 or use 1.2.3.4.5 instead.", "Meet at 10:30:00 or use 1.2.3.4.5 instead."),
    # Sentence-initial plural nouns and verbs were names.
    ("Annuitants waited months. Retirees complained. Letters arrived late. Learned nothing. Call back tomorrow.",
     "Annuitants waited months. Retirees complained. Letters arrived late. Learned nothing. Call back tomorrow."),
    # Names on consecutive lines were one span, and the line breaks vanished.
    ("Attendees:\nMaria Alvarez\nJohn Smith\nPriya Patel\n", "Attendees:\n[PERSON_1]\n[PERSON_2]\n[PERSON_3]\n"),
    # Field labels ending in a colon were speaker names; "Note-taker" became "Note-[PERSON_3]".
    ("Channel: phone\nCategory: billing\nSegment: new retiree\nFollow-up: none",
     "Channel: phone\nCategory: billing\nSegment: new retiree\nFollow-up: none"),
    ("Note-taker: Sam. Annuitants said the letters were slow.",
     "Note-taker: [PERSON_1]. Annuitants said the letters were slow."),
    # Agency acronyms and form numbers were persons and an address.
    ("DFAS, MSPB, OWCP, HHS, USDA and FEDVIP sent forms.", "DFAS, MSPB, OWCP, HHS, USDA and FEDVIP sent forms."),
    ("Section 3 of the Standard Form 2801 was blank; SF-50 and RI 92-19 were attached.",
     "Section 3 of the Standard Form 2801 was blank; SF-50 and RI 92-19 were attached."),
    # "SSN ending 6789" kept the digits and called "SSN" a person.
    ("DOB 2/9/1947 and SSN ending 6789.", "DOB [DATE_1] and SSN ending [SSN_1]."),
    # The last word of a country's name was a person ("the United [PERSON_2]").
    ("Smith v. the United Kingdom went to the Grand Chamber; she moved to the Czech Republic.",
     "[PERSON_1] v. the United Kingdom went to the Grand Chamber; she moved to the Czech Republic."),
    ("The last 4 of my social: 6789, and the card ending in 4242.",
     "The last 4 of my social: [SSN_1], and the card ending in [ID_1]."),
])
def test_cx_text_is_not_damaged(engine, text, expected):
    assert engine.deidentify(text).text == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Email jdoe at agency dot gov today.", "Email [EMAIL_1] today."),
    ("write to maria [at] example [dot] com", "write to [EMAIL_1]"),
    ("maria(at)example(dot)org", "[EMAIL_1]"),
    ("call two oh two, five five five, oh one four three", "call [PHONE_1]"),
    ("call 2 0 2 5 5 5 0 1 4 3 please", "call [PHONE_1] please"),
    ("my social is one two three four five six seven eight nine", "my social is [SSN_1]"),
    ("SSN 123.45.6789", "SSN [SSN_1]"),
    ("DOB 020947", "DOB [DATE_1]"),
    ("EMPLID 1234567", "EMPLID [ID_1]"),
    ("retirement claim number is 7654321", "retirement claim number is [ID_1]"),
    ("Thanks @jdoe_1950 and @MariaA for the tip.", "Thanks [PERSON_1] and [PERSON_2] for the tip."),
    ("The cell said @SUM(A1) again.", "The cell said @SUM(A1) again."),
    ("My name is M-A-R-I-A, and I called twice.", "My name is [PERSON_1], and I called twice."),
    ("Mary-Kate Olsen-Smith called back.", "[PERSON_1] called back."),
    # Not identifiers: counts, versions, amounts.
    ("We had one or two calls, three at most.", "We had one or two calls, three at most."),
    ("Version 3.2.1 shipped", "Version 3.2.1 shipped"),
    ("He paid 1 2 3 dollars", "He paid 1 2 3 dollars"),
    # Court application numbers (the ECHR cases): "no. 36110/97 with the Court" was an address
    # that kept "36110/", and the numbers of a list after "nos." were all kept.
    ("The applicant lodged application no. 36110/97 with the Court.",
     "The applicant lodged application no. [ID_1] with the Court."),
    ("The cases (nos. 33985/96, 33986/96 and 34001/96) were joined; see docket no. 2021-MSPB-0012.",
     "The cases (nos. [ID_1], [ID_2] and [ID_3]) were joined; see docket no. [ID_4]."),
    ("We took 3/4 of the dose, not 1/2.", "We took 3/4 of the dose, not 1/2."),
])
def test_obfuscated_structured_identifiers(engine, text, expected):
    assert engine.deidentify(text).text == expected


def test_cx_sets_keep_evidence_and_leave_no_identifier():
    """Our CX sets ship with the code (nlp/deid/data): the floors of issue 17's goals, on the
    development half the rules were tuned on and on the held-out half written after.
    Measured (python -m nlp.deid.evaluate): dev 0.9983 of words unchanged, held-out 0.9864
    when first measured and 0.9981 after the fixes it showed; 0 markers glued to letters."""
    from nlp.deid.evaluate import CX_SETS, cx_figures, load_marked

    engine = Deidentifier().fit()  # its own: the module's engine is shared
    dev = cx_figures(load_marked(CX_SETS["cx_dev"]), engine)
    held = cx_figures(load_marked(CX_SETS["cx_held_out"]), engine)
    for figures in (dev, held):
        assert figures["words_kept"] >= 0.995, figures["damaged"]
        assert figures["glued_markers"] == 0
    assert dev["structured_recall_char"] >= 0.97 and held["structured_recall_char"] >= 0.99, held["residues"]
    assert held["recall_char"] >= 0.99 and held["documents_leaking"] <= 0.02, held["residues"]


def test_a_lone_surname_shared_by_two_people_gets_a_pseudonym_of_its_own(engine):
    """A father and daughter once got one pseudonym: a lone "Alvarez" after two full names
    with that surname cannot be told apart, so it is not given the first one's number; after
    one full name it still is the same person."""
    two = engine.deidentify("Maria Alvarez called. Her father José Alvarez called too. Mr. Alvarez was upset.").text
    assert two == "[PERSON_1] called. Her father [PERSON_2] called too. [PERSON_3] was upset."
    one = engine.deidentify("Maria Alvarez called on Monday. Alvarez said the letter was late.").text
    assert one == "[PERSON_1] called on Monday. [PERSON_1] said the letter was late."
