"""The understanding pipeline, stage by stage: dialogue acts, grounding, stance, dialogue
state, policy, and the rules planner composed of them (no catalog database needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from agent.rules import RulesPlanner
from agent.understanding.acts import ActsModel, bundled_dir, load_acts_model, newest
from agent.understanding.acts_training import mention_spans, read_examples, train
from agent.understanding.grounding import Grounder
from agent.understanding.policy import Words, social_reply
from agent.understanding.reader import Reader
from agent.vocabulary import Vocabulary

V = Vocabulary.from_lists(
    categories=["Comedy", "Horror", "Drama", "Sci-Fi", "Romance", "Western", "Children",
                "Animation", "Thriller", "Mystery"],
    tags=["time travel", "twist ending", "superhero", "gory", "violent", "classic"],
    titles=[("1", "The Matrix (1999)"), ("2", "Heat (1995)"), ("3", "Toy Story (1995)"),
            ("4", "Up (2009)"), ("5", "Better Off Dead (1985)"), ("6", "Man (2010)"),
            ("7", "Hot Fuzz (2007)"), ("8", "Ride Along (2014)"), ("9", "Her (2013)"),
            ("10", "Halloween (2007)"), ("11", "Head Above Water (1996)"),
            ("12", "Date Night (2010)"), ("13", "It (2017)"),
            ("14", "Toy Story 2 (1999)"), ("15", "Terminator 2: Judgment Day (1991)"),
            ("16", "Terminator, The (1984)")],
    year_min=1900, year_max=2018,
)
ALL_TOOLS = {"lookup_items", "item_info", "filter_items", "search_text", "similar_items",
             "rank_for_user", "rank_by_popularity", "explain", "update_profile"}


@pytest.fixture(scope="module")
def acts() -> ActsModel:
    return load_acts_model()


@pytest.fixture(scope="module")
def reader(acts: ActsModel) -> Reader:
    return Reader(V, acts, ("movie", "movies"))


def titles(reader: Reader, text: str) -> list[tuple[str | None, str]]:
    return [(m.item_id, m.stance) for m in reader.read(text).titles()]


# ---- dialogue acts -------------------------------------------------------------------------


def test_bundled_act_model_reports_held_back_metrics_and_attribution(acts: ActsModel) -> None:
    held = acts.metadata["heldout"]
    assert held["utterances"] >= 200 and held["top1_accuracy"] >= 0.65
    assert held["seek_vs_social_accuracy"] >= 0.8
    assert "IARD" in acts.metadata["attribution"] and "ReDial" in acts.metadata["attribution"]
    folder = newest(bundled_dir())
    assert folder is not None and not list(folder.glob("*.pkl"))


@pytest.mark.parametrize("text", ["Hi how are you", "Thank you.", "Goodbye!",
                                  "Thanks for the help, have a great night"])
def test_greetings_and_thanks_are_social(acts: ActsModel, text: str) -> None:
    a = acts.predict(text)
    assert a.social > a.seeking, (text, a.labels(0.3))


@pytest.mark.parametrize("text", ["Can you recommend a xnounx for tonight?",
                                  "I am looking for something funny",
                                  "what do you have for me"])
def test_requests_are_seeking(acts: ActsModel, text: str) -> None:
    a = acts.predict(text)
    assert a.seeking > a.social, (text, a.labels(0.3))


def test_training_rebuilds_the_shipped_model(tmp_path: Path, acts: ActsModel) -> None:
    data = Path(__file__).resolve().parents[2] / "recagent/data/iard-partial/dialogues.json"
    path, meta = train(data, tmp_path, nouns=acts.metadata["params"]["nouns"])
    assert meta["heldout"] == acts.metadata["heldout"]  # seeded: same split, same model
    rebuilt = ActsModel.load(path)
    assert rebuilt.labels == acts.labels and rebuilt.vocabulary == acts.vocabulary


def test_training_data_errors_name_the_file(tmp_path: Path) -> None:
    from agent.understanding.acts_training import TrainingDataError

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"not": "a list"}))
    with pytest.raises(TrainingDataError, match="bad.json"):
        read_examples(bad)


def test_mention_spans_cover_title_and_year() -> None:
    text = "I loved The Princess Diaries (2001) ! and Up (2009)"
    got = [text[a:b] for a, b in mention_spans(text)]
    assert got == ["The Princess Diaries (2001)", "Up (2009)"]


# ---- grounding ---------------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("I'd really like to see The Shape of Water (2017)", []),  # not in this catalog: unknown
    ("I like Toy Story", ["3"]),
    ("something like the matrix", ["1"]),  # lower case, rare words: a title
    ("I loved heat", ["2"]),  # lower case but framed by a word of liking
    ("Thanks man", []),
    ("TV really is doing better! I want a comedy", []),
    ("for 5 and 10 year olds", []),
    ("I was up all night", []),  # an everyday word is not the title "Up"
    ("We loved Up (2009) with the kids", ["4"]),
    ("something for date night", []),
    ("have you seen the matirx?", ["1"]),  # a typo of a title
    ("I loved Toy Story 2", ["14"]),  # the number belongs to the title
    ("more like Terminator 2", ["15"]),  # ... also when the title goes on after it
    ("The Terminator, but newer", ["16"]),
])
def test_titles_need_evidence_for_how_ordinary_their_words_are(text: str, expected: list[str]
                                                              ) -> None:
    g = Grounder(V).ground(text)
    assert [m.item_id for m in g.of("title") if m.item_id] == expected, g.mentions


def test_unknown_title_with_a_year_is_still_a_title() -> None:
    g = Grounder(V).ground("I'd really like to see The Shape of Water (2017)")
    assert [(m.value, m.item_id) for m in g.of("title")] == [("The Shape of Water (2017)", None)]
    assert not g.of("word")  # its words are not searched


def test_categories_tags_and_periods() -> None:
    g = Grounder(V).ground("90s sci fi comedies about time travel, not too gory")
    assert [m.value for m in g.of("category")] == ["Sci-Fi", "Comedy"]
    assert [m.value for m in g.of("tag")] == ["time travel", "gory"]
    assert (g.years.year_min, g.years.year_max) == (1990, 1999)
    around = Grounder(V).ground("a thriller from around 1994")
    assert (around.years.year_min, around.years.year_max) == (1991, 1997)
    assert Grounder(V).ground("a super hero flick").of("tag")[0].value == "superhero"


# ---- stance --------------------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("I'm going to pass on Ride Along (2014)", [("8", "disliked")]),
    ("I like Hot Fuzz (2007)", [("7", "liked")]),
    ("I do not really like the Halloween (2007) movies", [("10", "disliked")]),
    ("I wasn't a big fan of Heat", [("2", "disliked")]),
    # a title the negation governs directly takes the opposite of what is said around it
    ("Loved Heat and The Matrix, though not Hot Fuzz", [("2", "liked"), ("1", "liked"),
                                                        ("7", "disliked")]),
    ("I liked Toy Story. Not Halloween (2007).", [("3", "liked"), ("10", "disliked")]),
    ("I was not a Heat fan", [("2", "disliked")]),
    ("Hated Hot Fuzz, not The Matrix", [("7", "disliked"), ("1", "neutral")]),
    ("I have never seen The Matrix", [("1", "neutral")]),  # a verb between: not a dislike
])
def test_title_stance(reader: Reader, text: str, expected: list[tuple[str, str]]) -> None:
    assert titles(reader, text) == expected


def test_category_and_tag_stance(reader: Reader) -> None:
    r = reader.read("comedies, no horror, and not too violent")
    stance = {m.value: m.stance for m in r.grounding.mentions}
    assert stance == {"Comedy": "wanted", "Horror": "avoided", "violent": "soft_avoid"}


# ---- the planner: state and policy ------------------------------------------------------


def plan(messages: list[str], context: dict[str, Any] | None = None,
         critiques: int = 0) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    planner = RulesPlanner(vocabulary=V, words=Words("movie", "movies"))
    msgs: list[Any] = [SystemMessage("context: " + json.dumps(context or {}))]
    msgs += [HumanMessage(m) for m in messages]
    msgs += [HumanMessage('critique: {"codes": ["empty"]}') for _ in range(critiques)]
    p = planner.decide(msgs, ALL_TOOLS)
    return p.calls, p.text


def names(calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [c[0] for c in calls]


def test_greeting_gets_a_short_reply_and_no_list() -> None:
    calls, text = plan(["Hi, how are you?"])
    assert calls == [] and "movies" in text


def test_goodbye_after_a_list_gets_no_new_list() -> None:
    ctx = {"last_recommendations": [{"n": 1, "id": "2", "title": "Heat"}], "shown_count": 10}
    calls, text = plan(["a thriller", "Thanks, I'll watch that one. Bye!"], ctx)
    assert calls == [] and text


def test_vague_request_gets_picks_and_one_question() -> None:
    calls, text = plan(["Hi, can you help me find a movie?"])
    assert names(calls) == ["rank_for_user"] and text.endswith("?")


def test_criteria_accumulate_and_a_failed_lookup_is_not_carried() -> None:
    calls, _ = plan(["90s comedies like The Shape of Water (2017)"])
    assert ("lookup_items", {"names": ["The Shape of Water (2017)"]}) in calls
    calls, _ = plan(["90s comedies like The Shape of Water (2017)", "no, a western as well"])
    assert "lookup_items" not in names(calls)
    filt = dict(calls)["filter_items"]
    assert filt["categories_all"] == ["Comedy", "Western"]
    assert (filt["year_min"], filt["year_max"]) == (1990, 1999)


def test_named_titles_feed_the_profile_and_the_seeds() -> None:
    calls, _ = plan(["I loved Heat (1995) but I hated Toy Story (1995)"])
    d = dict(calls)
    assert d["update_profile"] == {"like": ["2"], "dislike": ["3"]}
    assert d["similar_items"] == {"item_ids": ["2"]}


def test_soft_avoid_pushes_down() -> None:
    calls, _ = plan(["a thriller, but not too gory"])
    assert calls[-1] == ("search_text", {"avoid": "gory"})
    assert dict(calls)["filter_items"] == {"categories_all": ["Thriller"]}


def test_older_is_relative_to_the_last_list() -> None:
    ctx = {"last_recommendations": [{"n": 1, "id": "2", "year": 1995},
                                    {"n": 2, "id": "1", "year": 1999}]}
    calls, _ = plan(["a thriller", "something older"], ctx)
    assert dict(calls)["filter_items"] == {"categories_all": ["Thriller"], "year_max": 1994}


def test_why_explains_and_questions_answer() -> None:
    ctx = {"last_recommendations": [{"n": 1, "id": "2"}, {"n": 2, "id": "1"}]}
    calls, _ = plan(["a thriller", "why did you pick the first one?"], ctx)
    assert calls == [("explain", {"item_ids": ["2"]})]
    calls, _ = plan(["a thriller", "what is the second one about?"], ctx)
    assert calls == [("item_info", {"item_ids": ["1"]})]


def test_empty_result_relaxes_the_least_important_criterion_and_says_so() -> None:
    calls, text = plan(["90s horror westerns about time travel"], critiques=1)
    assert "search_text" not in names(calls) and "time travel" in text
    calls, text = plan(["90s horror westerns about time travel"], critiques=2)
    assert dict(calls)["filter_items"]["categories_all"] == ["Western"] and "Horror" in text


# ---- knowledge comes from data -------------------------------------------------------------


def _simulator_phrasings() -> list[str]:
    import recagent.simulation as sim

    out: list[str] = []
    for name in ("OPEN_CATEGORY", "OPEN_DECADE", "REJECT", "NUDGE", "ACCEPT"):
        out.extend(getattr(sim, name))
    for templates in sim.REVEAL.values():
        out.extend(templates)
    return out


def test_the_simulators_sentences_are_not_in_the_planner() -> None:
    """No run of four words of a simulated user's templates appears in agent/ (the
    planner must not learn the simulator's sentences)."""
    import re

    root = Path(__file__).resolve().parents[2] / "agent"
    files = [p for p in root.rglob("*") if p.suffix in (".py", ".jsonl", ".json", ".txt")]
    code = " ".join(re.findall(r"[a-z']+", " ".join(
        p.read_text(encoding="utf-8").casefold() for p in files)))
    found = []
    for sentence in _simulator_phrasings():
        words = re.findall(r"[a-z']+", re.sub(r"\{\w+\}", " ", sentence.casefold()))
        for k in range(len(words) - 3):
            run = " ".join(words[k:k + 4])
            if f" {run} " in f" {code} ":
                found.append(run)
    assert not found, found


def test_the_planner_code_does_not_name_a_domain() -> None:
    import re

    root = Path(__file__).resolve().parents[2] / "agent" / "understanding"
    text = " ".join(p.read_text(encoding="utf-8") for p in root.glob("*.py"))
    assert not re.search(r"\b(movie|movies|film|films|movielens|genre)\b", text, re.I)


def test_alternatives_and_short_results() -> None:
    calls, _ = plan(["a mystery or a western from the 60s"])
    assert dict(calls)["filter_items"] == {"categories_any": ["Mystery", "Western"],
                                           "year_min": 1960, "year_max": 1969}
    planner = RulesPlanner(vocabulary=V, words=Words("movie", "movies"))
    msgs = [SystemMessage("context: {}"), HumanMessage("sci-fi after 2010"),
            HumanMessage("westerns too, older than 1980"),
            HumanMessage('critique: {"codes": ["too_few"]}')]
    p = planner.decide(msgs, ALL_TOOLS)  # a short result keeps what was asked
    assert dict(p.calls)["filter_items"] == {"categories_all": ["Sci-Fi", "Western"],
                                             "year_max": 1979}


@pytest.mark.parametrize("text,social", [
    ("Sounds great, I'll give it a try. Thanks!", True),
    ("That one looks interesting, thank you so much", True),  # an opinion tag is no ask
    ("No, that's not it. Think time travel.", False),  # a descriptive tag asks
    ("thanks, but do you have any comedies?", False),  # a category always asks
    ("Hi! Can you help me find a movie for tonight?", False),
])
def test_social_turns(reader: Reader, text: str, social: bool) -> None:
    assert reader.read(text).social is social, reader.read(text).acts.labels(0.3)


def test_conditions_no_item_meets_together_are_relaxed_before_planning() -> None:
    """Sci-fi, then westerns: no item of this catalog is both, so the first plan already
    leaves out the older category and says so (no empty result, no re-plan)."""
    vocab = Vocabulary.from_lists(categories=["Sci-Fi", "Western", "Comedy"])
    vocab.category_sets = {frozenset({"Sci-Fi"}): (2, (2012, 2014)),
                           frozenset({"Western"}): (3, (1950, 1960, 2013)),
                           frozenset({"Western", "Comedy"}): (1, (1965,))}
    planner = RulesPlanner(vocabulary=vocab, words=Words("movie", "movies"))
    msgs: list[Any] = [SystemMessage("context: {}"), HumanMessage("sci-fi movies after 2010"),
                       HumanMessage("westerns too")]
    p = planner.decide(msgs, ALL_TOOLS)
    assert dict(p.calls)["filter_items"] == {"categories_all": ["Western"], "year_min": 2011}
    assert '"Sci-Fi"' in p.text
    # a combination the catalog has is kept as asked
    msgs[-1] = HumanMessage("a comedy western")
    p = planner.decide(msgs[:1] + msgs[-1:], ALL_TOOLS)
    assert sorted(dict(p.calls)["filter_items"]["categories_all"]) == ["Comedy", "Western"]
    assert not p.text


# ---- counts, bounds and closings ------------------------------------------------------------


def _decide(messages: list[str], context: dict[str, Any] | None = None,
            schemas: list[dict[str, Any]] | None = None) -> Any:
    planner = RulesPlanner(vocabulary=V, words=Words("movie", "movies"))
    msgs: list[Any] = [SystemMessage("context: " + json.dumps(context or {}))]
    msgs += [HumanMessage(m) for m in messages]
    return planner.decide(msgs, ALL_TOOLS, schemas or [])


def _schemas() -> list[dict[str, Any]]:
    from recagent.settings import load_settings
    from tools.registry import default_registry

    return default_registry(load_settings(plugins="")).schemas()


def test_a_count_bounds_the_last_ordering_call_and_the_turn_count_caps_it() -> None:
    p = _decide(["two westerns please"], {"count": 10})
    assert p.calls[-1] == ("rank_for_user", {"limit": 2})
    p = _decide(["just one mystery like Heat"], {"count": 10})
    assert p.calls[-1] == ("similar_items", {"item_ids": ["2"], "limit": 1})
    p = _decide(["twenty comedies"], {"count": 5})
    assert p.calls[-1][1]["limit"] == 5
    p = _decide(["some comedies"], {"count": 10})
    assert "limit" not in p.calls[-1][1]


def test_a_rating_floor_goes_to_the_filter_tools_rating_bound() -> None:
    schemas = _schemas()
    p = _decide(["dramas with ratings of 3.5 or higher"], schemas=schemas)
    assert dict(p.calls)["filter_items"] == {"categories_all": ["Drama"], "min_rating": 3.5}
    p = _decide(["comedies, at least 50 ratings"], schemas=schemas)  # out of the rating range
    assert dict(p.calls)["filter_items"] == {"categories_all": ["Comedy"],
                                             "min_rating_count": 50}
    # a quantity no parameter of the tool measures, or a tool without the bound: left out
    p = _decide(["comedies that last at least 90 minutes"], schemas=schemas)
    assert dict(p.calls)["filter_items"] == {"categories_all": ["Comedy"]}
    p = _decide(["dramas with ratings of 3.5 or higher"])
    assert dict(p.calls)["filter_items"] == {"categories_all": ["Drama"]}


def test_a_rating_floor_is_relaxed_when_nothing_meets_it() -> None:
    planner = RulesPlanner(vocabulary=V, words=Words("movie", "movies"))
    msgs: list[Any] = [SystemMessage("context: {}"), HumanMessage("westerns rated 4.9 or better"),
                       HumanMessage('critique: {"codes": ["empty"]}')]
    p = planner.decide(msgs, ALL_TOOLS, _schemas())
    assert dict(p.calls)["filter_items"] == {"categories_all": ["Western"]}
    assert "min rating 4.9" in p.text


def test_a_goodbye_after_a_question_about_an_item_closes() -> None:
    closing = social_reply(True, Words("movie", "movies"))
    calls, text = plan(["Is Heat any good?", "thanks, bye"])
    assert not calls and text == closing
    calls, text = plan(["hello"])
    assert not calls and text != closing


def test_bounds_are_read_from_the_filter_tools_own_schema() -> None:
    """What a quantity measures comes from the tool's parameters: a catalog whose filter
    tool takes a page floor described in its schema gets it, with no code knowing pages."""
    schema = {"type": "function", "function": {"name": "filter_items", "parameters": {
        "properties": {
            "min_pages": {"type": "integer", "minimum": 1, "description": "fewest pages."},
            "min_rating": {"type": "number", "minimum": 0, "maximum": 5,
                           "description": "minimum average rating, 0-5 stars."},
            "categories_all": {"type": "array", "items": {"type": "string"}}}}}}
    p = _decide(["a western with at least 300 pages"], schemas=[schema])
    assert dict(p.calls)["filter_items"] == {"categories_all": ["Western"], "min_pages": 300}
    p = _decide(["a western, 4 stars or more"], schemas=[schema])
    assert dict(p.calls)["filter_items"] == {"categories_all": ["Western"], "min_rating": 4.0}
    p = _decide(["a western, 4/5 at least"], schemas=[schema])  # on the rating's own scale
    assert dict(p.calls)["filter_items"] == {"categories_all": ["Western"], "min_rating": 4.0}
