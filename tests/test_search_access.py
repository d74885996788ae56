"""No study leaks through search. The back end itself enforces access: for every filter, a
reader of study A gets no hit, no facet value and no suggestion from study B, and a reader of
nothing (or of an empty study) gets nothing at all, in hits, totals, facets, "did you mean",
"more like this" and theme-run matching. Through each real back end (Whoosh, and PostgreSQL's
full text when the suite runs on PostgreSQL) and through the JSON API after real uploads."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from research_repo.models import Role
from research_repo.search import FACETS, SearchQuery
from research_repo.search import indexer
from .helpers import BACKEND_NAMES, login, make_backend
from .test_search import hits, upload

A, B, EMPTY = 1, 2, 3

# Each study's passages carry their own value of every facet, and words of their own.
FACET_VALUES = {
    A: {"service": "Retirement Services", "kind": "interview", "speaker": "P1", "channel": "phone",
        "stage": "applying", "segment": "new retiree", "tag": ["Pay/Interim pay"], "theme": ["Late payments"],
        "driver": ["Trust"], "date": datetime(2024, 2, 3)},
    B: {"service": "USAJOBS", "kind": "ticket", "speaker": "P7", "channel": "chat", "stage": "searching",
        "segment": "veteran", "tag": ["Profile/Resume"], "theme": ["Resume builder"], "driver": ["Ease"],
        "date": datetime(2021, 8, 9)},
}
WORDS = {A: ["annuity interim payment late", "annuity recalculated survivor letter"],
         B: ["resume builder crashed zanzibarish", "vacancy announcement quokkafied closed"]}


def _docs():
    docs, pid = [], 0
    for study, texts in WORDS.items():
        values = FACET_VALUES[study]
        for position, text in enumerate(texts):
            pid += 1
            when = values["date"]
            docs.append({"passage_id": pid, "source_id": 10 * study, "position": position, "study": study,
                         "title": f"Source {study}", "text": text, **values,
                         "year": str(when.year), "quarter": f"{when.year}-Q{(when.month - 1) // 3 + 1}"})
    return docs


@pytest.fixture(params=BACKEND_NAMES)
def backend(request, tmp_path, database_url):
    engine, close = make_backend(request.param, tmp_path / "index", database_url)
    with engine.writer_lock():
        engine.rebuild([_docs()])
    yield engine
    close()


def _facet_values(results) -> dict[str, set[str]]:
    return {f.name: {v.value for v in f.values} for f in results.facets}


def _filter_of(study: int, name: str) -> dict[str, list[str]]:
    """A filter on facet ``name`` with the value that study's passages have."""
    values = FACET_VALUES[study]
    value = {"study": study, "year": values["date"].year,
             "quarter": f"{values['date'].year}-Q{(values['date'].month - 1) // 3 + 1}"}.get(name)
    if value is None:
        value = values[FACETS[name][0]]
        value = value[0] if isinstance(value, list) else value
    return {name: [str(value)]}


def _assert_nothing_of_b(results):
    assert all(h.study_id != B for h in results.hits)
    b_values = {str(B), "USAJOBS", "ticket", "P7", "chat", "searching", "Profile/Resume", "Resume builder", "Ease",
                "2021", "2021-Q3"}
    for name, values in _facet_values(results).items():
        assert not values & b_values, (name, values)
    assert results.suggestion is None or results.suggestion.strip() not in {"zanzibarish", "quokkafied"}


@pytest.mark.parametrize("name", sorted(FACETS))
@pytest.mark.parametrize("text", ["", "resume", "annuity", "zanzibarsh"])
def test_a_foreign_filter_returns_nothing_of_the_other_study(backend, name, text):
    results = backend.search(SearchQuery(text=text, filters=_filter_of(B, name)), [A])
    assert results.total == 0 and results.hits == []
    assert all(not f.values for f in results.facets)
    assert results.suggestion is None
    assert backend.matching_passage_ids(SearchQuery(text=text or "resume", filters=_filter_of(B, name)), [A]) == []


@pytest.mark.parametrize("dates", [(date(2021, 1, 1), date(2021, 12, 31)), (None, date(2022, 1, 1)),
                                   (date(2021, 8, 9), date(2021, 8, 9))])
def test_a_date_range_outside_ones_own_data_returns_nothing(backend, dates):
    results = backend.search(SearchQuery(text="", date_from=dates[0], date_to=dates[1]), [A])
    assert results.total == 0 and all(not f.values for f in results.facets)
    results = backend.search(SearchQuery(text="resume", date_from=dates[0], date_to=dates[1]), [A])
    assert results.total == 0 and results.suggestion is None


@pytest.mark.parametrize("readable", [[], [EMPTY], [EMPTY, 99]])
@pytest.mark.parametrize("text", ["", "resume", "annuity", "zanzibarsh", "annuty", "*"])
def test_a_reader_of_no_indexed_passage_gets_nothing(backend, readable, text):
    results = backend.search(SearchQuery(text=text), readable)
    assert (results.total, results.hits, results.suggestion) == (0, [], None)
    assert all(not f.values for f in results.facets)
    for pid in range(1, 5):
        assert backend.more_like_this(pid, readable) == []
    assert backend.matching_passage_ids(SearchQuery(text=text or "annuity"), readable) == []


def test_own_filters_still_work_and_show_only_own_facets(backend):
    for name in FACETS:
        results = backend.search(SearchQuery(text="", filters=_filter_of(A, name)), [A])
        assert results.total == 2, name
        _assert_nothing_of_b(results)
    results = backend.search(SearchQuery(text="annuity"), [A])
    assert results.total == 2
    _assert_nothing_of_b(results)


def test_did_you_mean_only_suggests_readable_words(backend):
    # "zanzibarish" exists only in study B: a reader of A gets no suggestion toward it ...
    assert backend.search(SearchQuery(text="zanzibarsh"), [A]).suggestion is None
    assert backend.search(SearchQuery(text="quokkafie"), [A]).suggestion is None
    # ... and its own misspellings are still corrected, from its own words.
    assert backend.search(SearchQuery(text="interm"), [A]).suggestion == "interim"
    # Words under 4 letters are not corrected into noise; under 6, one edit away at most.
    assert backend.search(SearchQuery(text="lettr"), [A]).suggestion == "letter"
    assert backend.search(SearchQuery(text="lte"), [A]).suggestion is None
    assert backend.search(SearchQuery(text="lxttr"), [A]).suggestion is None  # two edits from "letter"
    # A reader of B does get it.
    assert backend.search(SearchQuery(text="zanzibarsh"), [B]).suggestion == "zanzibarish"
    # A word of B is "misspelled" for a reader of A, not "known": the suggestion does not say it exists.
    assert backend.search(SearchQuery(text="zanzibarish"), [A]).suggestion is None


def test_more_like_this_stays_in_readable_studies(backend):
    assert backend.more_like_this(3, [A]) == []  # a passage of B, from A
    assert {h.study_id for h in backend.more_like_this(1, [A])} <= {A}
    assert {h.study_id for h in backend.more_like_this(1, [A, B])} <= {A, B}


# ---- through the JSON API, after real uploads


@pytest.fixture
def two_studies(app, client, make_user, make_study):
    ana, bo, cy = (make_user(n, Role.RESEARCHER) for n in ("ana", "bo", "cy"))
    study_a = make_study("Retiree interviews", ana)
    study_b = make_study("Job seeker tickets", bo, service="USAJOBS")
    make_study("An empty study", cy)
    with app.test_client() as c:
        login(c, "ana")
        upload(c, study_a.id, "a.txt", "Moderator: Tell me.\nP1: The interim annuity payment was late again.\n")
    with app.test_client() as c:
        login(c, "bo")
        upload(c, study_b.id, "b.txt", "Moderator: Tell me.\nP3: The resume builder crashed, zanzibarish.\n",
                kind="focus-group")
    indexer.drain_all(app)
    return study_a, study_b


@pytest.mark.parametrize("params", [
    {"q": "resume"}, {"q": ""}, {"q": "zanzibarsh"}, {"q": "", "kind": "focus-group"}, {"q": "", "speaker": "P3"},
    {"q": "", "service": "USAJOBS"}, {"q": "resume", "speaker": "P3"}, {"q": "", "from": "1990-01-01", "to": "1990-12-31"},
    {"q": "", "tag": "nothing-here"}, {"q": "", "theme": "nothing-here"},
])
def test_api_search_never_shows_another_study(app, two_studies, params):
    study_a, study_b = two_studies
    with app.test_client() as ana:
        login(ana, "ana")
        body = hits(ana, **params, study=str(study_b.id))
        assert body["total"] == 0 and body["hits"] == [] and body["suggestion"] is None
        assert all(f["values"] == [] for f in body["facets"])
        body = hits(ana, **params)
        assert all(h["study_id"] == study_a.id for h in body["hits"])
        values = {v["value"] for f in body["facets"] for v in f["values"]}
        assert not values & {str(study_b.id), "USAJOBS", "focus-group", "P3"}
        assert body["suggestion"] != "zanzibarish"
    with app.test_client() as cy:  # only an empty study
        login(cy, "cy")
        body = hits(cy, **params)
        assert body["total"] == 0 and body["hits"] == [] and body["suggestion"] is None
        assert all(f["values"] == [] for f in body["facets"])
