"""The contract every search back end keeps (``search.SearchBackend``), run against each one
``search.BACKENDS`` names: the app calls nothing else, so a back end that passes this suite
can replace Whoosh. Documents are written the way ``search.documents`` makes them."""
from __future__ import annotations

import threading
from datetime import datetime

import pytest

from research_repo import search
from research_repo.search import IndexUnavailable, QueryRejected, SearchQuery


def doc(pid: int, study: int, text: str, **facets) -> dict:
    when = facets.pop("date", datetime(2026, 3, 1))
    return {"passage_id": pid, "source_id": 100 + pid, "position": 0, "study": study, "title": f"Interview {pid}",
            "text": text, "speaker": facets.pop("speaker", "P1"), "kind": facets.pop("kind", "interview"),
            "service": "Retirement Services", "channel": facets.pop("channel", "phone"), "stage": None,
            "segment": None, "date": when, "year": str(when.year), "quarter": f"{when.year}-Q{(when.month - 1) // 3 + 1}",
            "tag": facets.pop("tag", []), "theme": facets.pop("theme", []), "driver": facets.pop("driver", [])}


CORPUS = [
    doc(1, 1, "The interim annuity payment was cut in half without a letter.", tag=["Pay/Interim pay"],
        channel="phone"),
    doc(2, 1, "I waited on hold for two hours about my interim payment.", channel="phone", driver=["Ease"]),
    doc(3, 1, "The online retirement application kept timing out.", channel="web", theme=["Online services"]),
    doc(4, 2, "Another study: the interim payment of a survivor annuity.", channel="phone"),
    doc(5, 2, "Survivor benefits letters were confusing.", channel="mail", date=datetime(2025, 11, 5)),
]


def usable(app, name: str) -> bool:
    """Whether back end ``name`` runs on this test's database (postgres needs PostgreSQL: run
    the suite with RESEARCH_REPO_TEST_DATABASE_URL, as CI does)."""
    return name != "postgres" or app.config["DATABASE_URL"].startswith("postgresql")


@pytest.fixture(params=sorted(search.BACKENDS))
def engine(request, app):
    if not usable(app, request.param):
        pytest.skip("the postgres back end searches inside PostgreSQL; this run is on SQLite")
    app.config["SEARCH_BACKEND"] = request.param
    built = search.BACKENDS[request.param](app)
    with built.writer_lock() as locked:
        assert locked
        assert built.rebuild([CORPUS[:3], CORPUS[3:]]) == len(CORPUS)
    return built


def ids(results) -> set[int]:
    return {h.passage_id for h in results.hits}


def test_a_missing_index_says_so(app):
    for name, factory in search.BACKENDS.items():
        if not usable(app, name):
            continue
        app.config["SEARCH_BACKEND"] = name
        empty = factory(app)
        assert not empty.exists()
        with pytest.raises(IndexUnavailable):
            empty.search(SearchQuery(text="interim"), [1])


def test_rebuild_then_search_within_the_given_studies_only(engine):
    assert engine.exists() and engine.passage_ids() == {1, 2, 3, 4, 5}
    found = engine.search(SearchQuery(text="interim"), [1])
    assert ids(found) == {1, 2} and found.total == 2
    assert ids(engine.search(SearchQuery(text="interim"), [1, 2])) == {1, 2, 4}
    assert all("<mark" in h.snippet_html for h in found.hits)
    nothing = engine.search(SearchQuery(text="interim"), [])
    assert nothing.total == 0 and nothing.hits == [] and all(not f.values for f in nothing.facets)
    assert engine.search(SearchQuery(text="interim"), [99]).total == 0
    assert engine.matching_passage_ids(SearchQuery(text="interim"), []) == []


def test_phrases_filters_facets_dates_and_pages(engine):
    assert ids(engine.search(SearchQuery(text='"interim annuity payment"'), [1, 2])) == {1}
    phone = engine.search(SearchQuery(text="interim", filters={"channel": ["phone"]}), [1, 2])
    assert ids(phone) == {1, 2, 4}
    both = SearchQuery(text="", filters={"channel": ["phone", "web"], "study": ["1"]})
    assert ids(engine.search(both, [1, 2])) == {1, 2, 3}  # OR within a facet, AND across
    tagged = engine.search(SearchQuery(filters={"tag": ["Pay/Interim pay"]}), [1, 2])
    assert ids(tagged) == {1}
    facets = {f.name: {v.value: v.count for v in f.values} for f in engine.search(SearchQuery(text=""), [1]).facets}
    assert facets["channel"] == {"phone": 2, "web": 1} and facets["theme"] == {"Online services": 1}
    assert "4" not in str(facets.get("study", {})) and facets["study"] == {"1": 3}
    dated = engine.search(SearchQuery(date_from=datetime(2025, 11, 1).date(), date_to=datetime(2025, 12, 1).date()),
                          [1, 2])
    assert ids(dated) == {5}
    first = engine.search(SearchQuery(text="", per_page=2, page=1), [1, 2])
    second = engine.search(SearchQuery(text="", per_page=2, page=2), [1, 2])
    assert first.total == 5 and first.pages == 3 and not ids(first) & ids(second)
    assert set(engine.matching_passage_ids(SearchQuery(text=""), [1, 2])) == {1, 2, 3, 4, 5}
    # Filters without words (tag all results of a filtered list): what the filters leave.
    assert set(engine.matching_passage_ids(SearchQuery(filters={"channel": ["phone"]}), [1, 2])) == {1, 2, 4}
    assert set(engine.matching_passage_ids(SearchQuery(filters={"channel": ["phone"]}), [2])) == {4}


def test_apply_replaces_and_removes(engine):
    with engine.writer_lock() as locked:
        assert locked
        engine.apply([doc(2, 1, "The deposit bounced after I changed banks.")], [3])
    assert ids(engine.search(SearchQuery(text="interim"), [1])) == {1}
    assert ids(engine.search(SearchQuery(text="deposit"), [1])) == {2}
    assert engine.search(SearchQuery(text="timing"), [1]).total == 0
    assert engine.passage_ids() == {1, 2, 4, 5}


def test_more_like_this_stays_in_the_given_studies(engine):
    similar = {h.passage_id for h in engine.more_like_this(1, [1])}
    assert similar and similar <= {2, 3} and 4 not in similar
    assert engine.more_like_this(1, []) == []


def test_costly_queries_are_refused(engine):
    for text in ("i*", "interim~5", "date:[2020 TO]"):
        with pytest.raises(QueryRejected):
            engine.search(SearchQuery(text=text), [1])


def test_one_writer_at_a_time(engine):
    seen = []
    with engine.writer_lock() as first:
        assert first
        thread = threading.Thread(target=lambda: seen.append(engine.writer_lock(blocking=False).__enter__()))
        thread.start()
        thread.join()
    assert seen == [False]
    with engine.writer_lock(blocking=False) as again:
        assert again
