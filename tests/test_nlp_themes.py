"""nlp.themes as a library: vectors, themes on data with known topics, determinism, warm runs
that keep identity, labels, quotes and matching."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.preprocessing import normalize

from nlp.themes import LsaVectorizer, ThemeModel, changed, choose_k, class_terms, graph, label_for, match, representative

# A sample shipped with the tests (tests/data/SOURCES.md: BANKING77, CC BY 4.0).
BANKING = Path(__file__).resolve().parent / "data" / "banking77" / "six_intents.csv"
INTENTS = ["card_arrival", "exchange_rate", "lost_or_stolen_card", "pin_blocked", "top_up_failed", "cash_withdrawal_charge"]


@pytest.fixture(scope="module")
def banking():
    """Six real BANKING77 intents (784 queries); the intents are used only to score."""
    with BANKING.open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["category"] in INTENTS]
    texts = [r["text"] for r in rows]
    return texts, [r["category"] for r in rows], LsaVectorizer(random_state=0).fit_transform(texts)


def test_vectors_are_unit_length_and_survive_storage(banking):
    texts = banking[0]
    vectorizer = LsaVectorizer(n_components=50, random_state=0).fit(texts)
    X = vectorizer.transform(texts[:20])
    assert X.shape == (20, 50) and X.dtype == np.float32
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    stored = LsaVectorizer.from_bytes(vectorizer.to_bytes())
    assert np.array_equal(stored.transform(texts[:20]), X)
    # A passage vectorized on its own gets the vector it gets in a batch.
    assert np.allclose(stored.transform([texts[3]])[0], X[3], atol=1e-6)


def test_themes_recover_known_topics(banking):
    texts, gold, X = banking
    model = ThemeModel(n_themes=6, random_state=0).fit(X)
    assert model.k_ == 6 and len(model.labels_) == len(texts)
    assert normalized_mutual_info_score(gold, model.labels_) >= 0.6
    # Each theme's terms name its topic: the biggest intent in the theme shows in its terms.
    terms = class_terms(texts, model.labels_, model.k_)
    hints = {"card_arrival": ("arriv", "card", "deliver"), "exchange_rate": ("exchange", "rate"),
             "lost_or_stolen_card": ("stolen", "lost"), "pin_blocked": ("pin", "block"),
             "top_up_failed": ("top", "fail"), "cash_withdrawal_charge": ("withdraw", "fee", "charge", "atm")}
    named = 0
    for theme in range(model.k_):
        members = [g for g, label in zip(gold, model.labels_, strict=True) if label == theme]
        main = max(set(members), key=members.count)
        named += any(h in " ".join(terms[theme]) for h in hints[main])
    assert named >= 5, terms


def test_k_is_chosen_and_explained(banking):
    X = banking[2]
    k, sweep = choose_k(X, k_min=5, k_max=300, random_state=0)
    assert sweep and all(-1 <= s <= 1 for _k, s in sweep)
    assert 5 <= k <= len(X) // 15  # at least 15 passages a theme on average
    assert k >= min(s[0] for s in sweep)
    model = ThemeModel(k_min=5, k_max=300, n_neighbors=None, random_state=0).fit(X)
    assert model.k_ == k and [a for a, _ in model.sweep_] == [a for a, _ in sweep]
    assert np.allclose([b for _, b in model.sweep_], [b for _, b in sweep], atol=1e-4)
    # On the neighbour graph (the default from 300 passages), the sweep is of the embedding.
    spectral = choose_k(graph.space(graph.embed(X, random_state=0), 300), k_min=5, random_state=0)
    assert ThemeModel(k_min=5, random_state=0).fit(X).k_ == spectral[0]


def test_a_larger_tolerance_chooses_fewer_themes(banking):
    X = banking[2]
    strict = choose_k(X, tolerance=0.0, random_state=0)
    default = choose_k(X, random_state=0)
    loose = choose_k(X, tolerance=0.2, random_state=0)
    assert strict[1] == default[1] == loose[1]  # the same sweep, read differently
    assert loose[0] < default[0] <= strict[0]


def moons(n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles as unit vectors: no straight cut separates them."""
    from sklearn.datasets import make_moons

    points, truth = make_moons(n, noise=0.05, random_state=0)
    return normalize(np.hstack([points, np.full((n, 1), 3.0)])).astype(np.float32), truth


def test_themes_follow_neighbourhoods_not_straight_cuts():
    X, truth = moons()
    graph_themes = ThemeModel(n_themes=2, random_state=0).fit(X)
    vector_themes = ThemeModel(n_themes=2, n_neighbors=None, random_state=0).fit(X)
    assert adjusted_rand_score(truth, graph_themes.labels_) > 0.95
    assert adjusted_rand_score(truth, vector_themes.labels_) < 0.6
    # Centroids and similarities stay in the vector space, where new passages are placed.
    assert graph_themes.centroids_.shape == (2, 3) and graph_themes.similarity_.shape == (600,)


def test_large_sets_are_embedded_through_landmarks():
    X, truth = moons(900)
    Z = graph.embed(X, landmarks=300, random_state=0)
    assert Z.shape[0] == 900 and np.isfinite(Z).all()
    labels = ThemeModel(n_themes=2, n_neighbors=None, random_state=0).fit(graph.space(Z, 2)).labels_
    assert adjusted_rand_score(truth, labels) > 0.95


def test_same_seed_same_themes_and_first_level_is_bounded(banking):
    X = banking[2]
    a = ThemeModel(n_themes=30, max_top=8, random_state=3).fit(X)
    b = ThemeModel(n_themes=30, max_top=8, random_state=3).fit(X)
    assert np.array_equal(a.labels_, b.labels_)
    assert len(set(a.parents_)) == 8 and len(a.parents_) == 30


def test_warm_run_keeps_identity_when_passages_arrive(banking):
    X = banking[2]
    first = ThemeModel(n_themes=12, random_state=0).fit(X[:700])
    # As the app runs it: the previous centroids, and each earlier passage's theme.
    previous = np.concatenate([first.labels_, np.full(len(X) - 700, -1)])

    def warm(**options) -> tuple[ThemeModel, int]:
        second = ThemeModel(random_state=0, init_centroids=first.centroids_, init_labels=previous, **options).fit(X)
        return second, changed(first.labels_, second.labels_[:700], match(first.centroids_, second.centroids_))

    second, moved = warm()
    assert second.k_ == 12 and len(match(first.centroids_, second.centroids_)) == 12
    assert moved / 700 <= 0.03
    # Without the cost of leaving a theme, more passages move; a cold run promises nothing.
    assert warm(stickiness=0.0)[1] > moved
    cold = ThemeModel(n_themes=12, random_state=1).fit(X)
    assert adjusted_rand_score(first.labels_, cold.labels_[:700]) < 1.0
    with pytest.raises(ValueError, match="init_labels has 700 entries"):
        ThemeModel(init_centroids=first.centroids_, init_labels=first.labels_).fit(X)


def test_outliers_are_flagged_not_dropped(banking):
    texts, _gold, X = banking
    noise = LsaVectorizer(random_state=0).fit(texts).transform(["zzzz qqqq xxxx", "Lorem ipsum dolor sit amet"])
    model = ThemeModel(n_themes=6, random_state=0, min_similarity=0.3).fit(np.vstack([X, noise]))
    assert len(model.labels_) == len(X) + 2
    assert not model.themed_[-2:].any()
    assert model.themed_.mean() > 0.9


def test_quotes_are_close_diverse_and_one_per_source(banking):
    _texts, _gold, X = banking
    model = ThemeModel(n_themes=6, random_state=0).fit(X)
    members = np.flatnonzero(model.labels_ == 0)
    sources = [i // 3 for i in range(len(X))]  # three passages per source
    quotes = representative(X, members, model.centroids_[0], groups=sources, count=5)
    assert 3 <= len(quotes) <= 5
    assert set(quotes) <= set(members.tolist())
    assert len({sources[i] for i in quotes}) == len(quotes)


def test_terms_are_not_near_duplicates_and_skip_markers():
    texts = (["P1: The interim annuity payment was late, interim annuity payments again [PERSON_1]"] * 5
             + ["P2: Login.gov locked my account, the sign in code never came [PERSON_2]"] * 5)
    labels = np.array([0] * 5 + [1] * 5)
    terms = class_terms(texts, labels, 2)
    assert not any("person" in t or t.startswith("p1") for ts in terms for t in ts)
    roots = [" ".join(w[:5] for w in t.split()) for t in terms[0]]
    assert len(roots) == len(set(roots))
    assert "annuity" in label_for(terms[0]) or "interim" in label_for(terms[0])


def test_matching_pairs_similar_centroids_only():
    old = np.eye(3, dtype=np.float32)
    new = np.array([[0, 1, 0], [1, 0, 0], [0, 0.6, 0.8]], dtype=np.float32)
    assert match(old, new, min_similarity=0.9) == {0: 1, 1: 0}
