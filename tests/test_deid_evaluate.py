"""Floors on the evaluator's figures over the public data, so a regression fails CI.
The data is read from RESEARCH_REPO_EVAL_DATA/deid (default ../shared/data/deid, see its
SOURCES.md), never copied: without it these tests skip, and .ci/run makes them mandatory."""
from __future__ import annotations

import sys
from unittest import mock

import pytest

from nlp.deid import Deidentifier, train
from nlp.deid.evaluate import DATA, load_conll, load_plain, load_presidio, policy_view, score
from nlp.deid.person import PersonTagger

pytestmark = pytest.mark.eval_data("deid")


@pytest.fixture(scope="module")
def engine():
    return Deidentifier().fit()


def test_loaders_read_the_whole_sets():
    presidio = load_presidio(DATA / "presidio_synth_dataset_v2.json")
    assert len(presidio) == 1500
    dev = load_conll(DATA / "wnut17_dev.conll")
    assert len(dev) == 1009
    persons = [(e.text[a:b]) for e in dev for a, b, k in e.spans if k == "PERSON"]
    assert len(persons) == 470 and all(p.strip() == p for p in persons)


def test_presidio_synthetic_floor(engine):
    result = score(load_presidio(DATA / "presidio_synth_dataset_v2.json"), engine)
    char = result["overall"]["char"]
    # Measured 0.867 / 0.933 (python -m nlp.deid.evaluate); floors leave a little room.
    assert char["precision"] >= 0.86 and char["recall"] >= 0.925, char
    recall = result["recall_by_gold_kind"]
    for kind in ("EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "IP_ADDRESS", "DOMAIN_NAME", "CREDIT_CARD"):
        assert recall[kind]["span"] >= 0.99, (kind, recall[kind])
    assert recall["PERSON"]["char"] >= 0.965  # measured 0.975
    assert recall["ZIP_CODE"]["char"] >= 0.9


def test_policy_view_floor(engine):
    examples = policy_view(load_presidio(DATA / "presidio_synth_dataset_v2.json"))
    dropped = sum(len(e.spans) for e in load_presidio(DATA / "presidio_synth_dataset_v2.json")) - sum(
        len(e.spans) for e in examples)
    assert 0 < dropped < 400  # countries, US states, young ages, bare years: not identifiers
    char = score(examples, engine)["overall"]["char"]
    assert char["recall"] >= 0.95 and char["precision"] >= 0.85, char  # the goal; measured 0.967 / 0.853


def test_wnut17_dev_person_floor(engine):
    result = score(load_conll(DATA / "wnut17_dev.conll"), engine)
    # The goal; measured 0.858. The person threshold (0.032) was chosen on this set and the
    # Presidio set together: the highest recall here that keeps the Presidio goal above.
    assert result["recall_by_gold_kind"]["PERSON"]["char"] >= 0.85


@pytest.mark.eval_data("themes", "banking77", "test.csv")
def test_over_redaction_ceiling_on_queries_without_names(engine):
    """BANKING77 test queries (never trained on) name nobody: what is found there is mostly
    over-redaction. Measured 75 person spans in 3,080 queries ("cash", "SWIFT", "PIN")."""
    result = score(load_plain(DATA.parent / "themes" / "banking77" / "test.csv"), engine)
    found = result["precision_by_predicted_kind"]
    assert result["texts"] == 3080
    assert found["PERSON"]["spans"] <= 85, found
    assert sum(m["spans"] for m in found.values()) <= 95, found


def _figures(engine) -> dict[str, float]:
    presidio = score(policy_view(load_presidio(DATA / "presidio_synth_dataset_v2.json")), engine)["overall"]["char"]
    wnut = score(load_conll(DATA / "wnut17_dev.conll"), engine)["recall_by_gold_kind"]["PERSON"]["char"]
    return {"presidio_precision": presidio["precision"], "presidio_recall": presidio["recall"], "wnut_person": wnut}


@pytest.mark.slow
@pytest.mark.eval_data("themes", "banking77", "train.csv")
def test_retraining_reaches_the_shipped_models_figures(tmp_path, engine):
    """The weights in the repository come from `python -m nlp.deid.train`: retrained here, the
    tagger scores what the shipped one scores (weights may differ in the last digits between
    machines' BLAS; the figures a user sees may not)."""
    out = tmp_path / "model.npz"
    with mock.patch.object(sys, "argv", ["train", "--out", str(out)]):
        train.main()
    shipped = _figures(engine)
    retrained_engine = Deidentifier().fit()
    retrained_engine.tagger_ = PersonTagger(threshold=retrained_engine.person_threshold).load(out)
    retrained = _figures(retrained_engine)
    for name, value in shipped.items():
        assert retrained[name] == pytest.approx(value, abs=0.002), (name, retrained, shipped)

