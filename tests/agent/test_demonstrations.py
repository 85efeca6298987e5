"""Which demonstrations a request retrieves: TF-IDF cosine over words and word pairs."""

from __future__ import annotations

import json

from agent.demonstrations import Demonstration, DemonstrationStore


def _demo(request: str, category: str) -> Demonstration:
    args = json.dumps({"categories_any": [category]}, sort_keys=True)
    return Demonstration(request, (("filter_items", args),))


def _requests(store: DemonstrationStore, request: str, k: int) -> list[str]:
    return [d.request for d in store.similar(request, k)]


def test_closest_first_and_equal_scores_in_file_order() -> None:
    store = DemonstrationStore(items=[
        _demo("the best dramas", "Drama"),
        _demo("comedies from the 80s", "Comedy"),
        _demo("westerns from the 90s", "Western"),
        _demo("comedies from the 90s", "Comedy 90s"),
    ])
    # both words shared first; then one shared word each, equally rare: file order
    assert _requests(store, "90s comedies", 3) == [
        "comedies from the 90s", "comedies from the 80s", "westerns from the 90s"]



def test_the_same_words_in_the_same_order_count_more() -> None:
    store = DemonstrationStore(items=[_demo("films york new", "A"), _demo("new york films", "B")])
    assert _requests(store, "new york", 1) == ["new york films"]


def test_a_rare_word_outweighs_a_common_one() -> None:
    store = DemonstrationStore(items=[
        _demo("popular movies", "A"), _demo("popular films", "B"),
        _demo("popular shows", "C"), _demo("noir movies", "D"),
    ])
    assert _requests(store, "popular noir", 1) == ["noir movies"]


def test_case_and_unknown_words() -> None:
    store = DemonstrationStore(items=[_demo("Strasse films", "A"), _demo("sea films", "B")])
    assert _requests(store, "STRASSE", 1) == ["Strasse films"]
    assert _requests(store, "straße", 1) == ["Strasse films"]  # casefolded: ß is ss
    # nothing in common: the first examples in file order
    assert _requests(store, "zzz qqq", 2) == ["Strasse films", "sea films"]
    assert store.similar("sea", 0) == [] and DemonstrationStore().similar("sea", 3) == []


def test_examples_with_the_same_plan_are_shown_once() -> None:
    store = DemonstrationStore(items=[
        _demo("funny comedies", "Comedy"), _demo("comedies that are funny", "Comedy"),
        _demo("comedies for kids", "Children"),
    ])
    assert _requests(store, "funny comedies", 2) == ["funny comedies", "comedies for kids"]


def test_every_seeded_request_retrieves_itself_first() -> None:
    store = DemonstrationStore.load()
    assert store.items
    for demo in store.items:
        assert _requests(store, demo.request, 1) == [demo.request]
