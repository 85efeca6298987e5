"""Scripted multi-turn conversations with the offline rules planner over the bundled
MovieLens data: the recommendations must satisfy what the user said (categories, years,
exclusions, no repeats, likes and dislikes). Runs on SQLite + in-process memory and on
PostgreSQL + Redis."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.reply_check import check_reply
from agent.service import Agent
from agent.types import TurnResult
from tools.catalog.protocol import Catalog
from tools.catalog.repository import ItemView


@dataclass
class Expect:
    categories_all: tuple[str, ...] = ()
    categories_any: tuple[str, ...] = ()
    categories_none: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    min_items: int = 10
    no_repeat: bool = True  # nothing shown earlier in the conversation
    not_titles: tuple[str, ...] = ()  # titles (as the catalog spells them) never recommended
    reply_has: tuple[str, ...] = ()
    clarify: bool = False
    info_title: str | None = None
    min_rating: float | None = None
    tools: tuple[str, ...] = ()  # tools the final plan used
    args_absent: tuple[str, ...] = ()  # arguments no call of the final plan may carry
    top_tag: str | None = None  # the first recommendation carries this tag
    extra: dict[str, Any] = field(default_factory=dict)


CONVERSATIONS: list[tuple[str, list[tuple[str, Expect]]]] = [
    (
        "genre-decade-negation",
        [
            (
                "some comedies from the 90s, no horror",
                Expect(
                    categories_all=("Comedy",),
                    categories_none=("Horror",),
                    year_min=1990,
                    year_max=1999,
                ),
            ),
            (
                "something else",
                Expect(
                    categories_all=("Comedy",),
                    categories_none=("Horror",),
                    year_min=1990,
                    year_max=1999,
                ),
            ),
            (
                "not these either",
                Expect(
                    categories_all=("Comedy",),
                    categories_none=("Horror",),
                    year_min=1990,
                    year_max=1999,
                ),
            ),
        ],
    ),
    (
        "after-and-older",
        [
            ("sci-fi movies after 2010", Expect(categories_all=("Sci-Fi",), year_min=2011)),
            # criteria add up within a request; few have both: the few are shown
            ("westerns too, older than 1980",
             Expect(categories_all=("Sci-Fi", "Western"), year_max=1979, min_items=1)),
        ],
    ),
    (
        "refine-years",
        [
            ("thrillers please", Expect(categories_all=("Thriller",))),
            (
                "only from the 80s",
                Expect(categories_all=("Thriller",), year_min=1980, year_max=1989),
            ),
            (
                "and no horror",
                Expect(
                    categories_all=("Thriller",),
                    categories_none=("Horror",),
                    year_min=1980,
                    year_max=1989,
                ),
            ),
        ],
    ),
    (
        "like-a-title-fuzzy",
        [
            (
                "something like the matirx",
                Expect(not_titles=("The Matrix",), tools=("similar_items",)),
            ),
            ("more like the second one", Expect(tools=("similar_items",))),
        ],
    ),
    (
        "like-with-conditions",
        [
            (
                "something like Heat but from the 80s, no comedy",
                Expect(
                    year_min=1980, year_max=1989, categories_none=("Comedy",), not_titles=("Heat",)
                ),
            ),
        ],
    ),
    (
        "tell-me-about",
        [
            (
                "what is toy story about?",
                Expect(min_items=0, reply_has=("Toy Story (1995)",), no_repeat=False),
            ),
            (
                "what year is Jumanji from?",
                Expect(min_items=0, reply_has=("Jumanji (1995)",), no_repeat=False),
            ),
        ],
    ),
    (
        "popular-and-gems",
        [
            ("popular action movies", Expect(categories_all=("Action",))),
            ("hidden gems instead", Expect(categories_all=("Action",), min_items=3)),
        ],
    ),
    (
        "highly-rated",
        [
            ("highly rated dramas", Expect(categories_all=("Drama",), min_rating=3.8)),
        ],
    ),
    (
        "loved-hated",
        [
            (
                "I loved Heat and I hated Titanic",
                Expect(not_titles=("Heat", "Titanic"), reply_has=()),
            ),
            (
                "show me some dramas from the 90s",
                Expect(
                    categories_all=("Drama",), year_min=1990, year_max=1999, not_titles=("Titanic",)
                ),
            ),
        ],
    ),
    (
        "clarify-then-request",
        [
            ("hello there", Expect(clarify=True, min_items=0)),
            ("thanks!", Expect(clarify=True, min_items=0)),
            ("ok, animated films", Expect(categories_all=("Animation",))),
        ],
    ),
    (
        "gibberish",
        [
            # nothing readable, nothing asked: a question back, no list
            ("asdf qwer", Expect(clarify=True, min_items=0)),
            # an unknown keyword in a request: said once, then picks
            ("a thriller about zxqv", Expect(categories_all=("Thriller",),
                                             reply_has=('could not find "zxqv"',))),
            ("and something else?", Expect(categories_all=("Thriller",))),
        ],
    ),
    (
        "or-categories",
        [
            (
                "a mystery or a western from the 60s",
                Expect(
                    categories_any=("Mystery", "Western"), year_min=1960, year_max=1969, min_items=5
                ),
            ),
        ],
    ),
    (
        "anything-but",
        [
            (
                "no horror or comedy please",
                Expect(categories_none=("Horror", "Comedy")),
            ),
        ],
    ),
    (
        "romcom-early-2000s",
        [
            (
                "a romantic comedy from the early 2000s",
                Expect(categories_all=("Comedy",), year_min=2000, year_max=2003),
            ),
            (
                "more please",
                Expect(categories_all=("Comedy",), year_min=2000, year_max=2003),
            ),
        ],
    ),
    (
        "between-years",
        [
            (
                "crime movies between 1985 and 1995",
                Expect(categories_all=("Crime",), year_min=1985, year_max=1995),
            ),
        ],
    ),
    (
        "count",
        [
            (
                "5 thrillers from the 2000s",
                Expect(categories_all=("Thriller",), year_min=2000, year_max=2009, min_items=5),
            ),
        ],
    ),
    (
        "two-seeds",
        [
            (
                "something like Toy Story and Finding Nemo",
                Expect(not_titles=("Toy Story", "Finding Nemo")),
            ),
        ],
    ),
    (
        "dislike-category-persists",
        [
            ("I hate horror movies", Expect(categories_none=("Horror",))),
            (
                "something from the 70s",
                Expect(categories_none=("Horror",), year_min=1970, year_max=1979),
            ),
        ],
    ),
    (
        "loved-the-first",
        [
            ("war movies", Expect(categories_all=("War",))),
            ("I loved the first one", Expect(tools=("update_profile", "similar_items"))),
        ],
    ),
    (
        # a conversation refines one request: categories, decades and liked titles add up
        "refinements-add-up",
        [
            ("Show me some comedy movies, please.", Expect(categories_all=("Comedy",))),
            (
                "No, none of those. I'd prefer one made in the 90s.",
                Expect(categories_all=("Comedy",), year_min=1990, year_max=1999),
            ),
            (
                "Not quite. It should also be romance.",
                Expect(categories_all=("Comedy", "Romance"), year_min=1990, year_max=1999),
            ),
            (
                "Not those. I enjoyed Sleepless in Seattle; more like that please.",
                Expect(
                    categories_all=("Comedy", "Romance"),
                    year_min=1990,
                    year_max=1999,
                    not_titles=("Sleepless in Seattle",),
                    tools=("update_profile", "filter_items", "similar_items"),
                ),
            ),
            # past the verbatim history window: the opening's comedy is still asked for
            (
                "Still not it. Anything else?",
                Expect(
                    categories_all=("Comedy", "Romance"),
                    year_min=1990,
                    year_max=1999,
                    not_titles=("Sleepless in Seattle",),
                    tools=("similar_items",),
                ),
            ),
        ],
    ),
    (
        # words outside the category vocabulary go to text search, conditions stay
        "keyword-refines",
        [
            ("thrillers from the 90s", Expect(categories_all=("Thriller",), year_min=1990)),
            (
                "Not quite. Think serial killer.",
                Expect(
                    categories_all=("Thriller",),
                    year_min=1990,
                    year_max=1999,
                    tools=("search_text",),
                    top_tag="serial killer",
                ),
            ),
        ],
    ),
    (
        # refusals without anything new: the same request again, nothing repeated
        "refusals-keep-the-request",
        [
            ("a drama from the 80s", Expect(categories_all=("Drama",), year_min=1980)),
            (
                "Not yet. What else do you have?",
                Expect(categories_all=("Drama",), year_min=1980, year_max=1989),
            ),
            (
                "Hmm, that's not what I'm after.",
                Expect(categories_all=("Drama",), year_min=1980, year_max=1989),
            ),
            (
                "Still not it.",
                Expect(categories_all=("Drama",), year_min=1980, year_max=1989),
            ),
        ],
    ),
    (
        # "old" inside a liked title is part of the title, not a period
        "title-before-years",
        [
            ("comedies please", Expect(categories_all=("Comedy",))),
            (
                "I loved Grumpier Old Men, something like that.",
                Expect(
                    categories_all=("Comedy",),
                    not_titles=("Grumpier Old Men",),
                    tools=("similar_items",),
                    args_absent=("year_max", "year_min"),
                ),
            ),
        ],
    ),
    (
        "decade-words",
        [
            (
                "fantasy from the eighties",
                Expect(categories_all=("Fantasy",), year_min=1980, year_max=1989),
            ),
        ],
    ),
]


def _check(
    catalog: Catalog, result: TurnResult, expect: Expect, shown_before: set[str], where: str
) -> None:
    ids = [r.item_id for r in result.recommendations]
    assert len(ids) == len(set(ids)), f"{where}: duplicate recommendations"
    if expect.clarify:
        assert not ids, f"{where}: expected a clarifying question, got {ids}"
        assert "?" in result.reply, f"{where}: {result.reply!r}"
        return
    assert len(ids) >= expect.min_items, f"{where}: only {len(ids)}: {result.reply!r}"
    views = catalog.get_items(ids, n_tags=0)
    if expect.info_title is not None:
        assert views[ids[0]].title == expect.info_title, where
    for i in ids:
        _check_item(views[i], expect, where)
    if expect.no_repeat:
        again = set(ids) & shown_before
        assert not again, f"{where}: shown again: {catalog.titles(list(again))}"
    for text in expect.reply_has:
        assert text in result.reply, f"{where}: {text!r} not in {result.reply!r}"
    _check_final_plan(result, expect, where)
    if expect.top_tag is not None:
        top = catalog.get_items(ids[:1], n_tags=50)[ids[0]]
        assert expect.top_tag in top.tags, f"{where}: {top.title} {top.tags}"
    # the reply names only recommended items (the template lists them)
    assert not check_reply(result.reply, result.recommendations, suspects=expect.not_titles)


def _check_item(v: ItemView, expect: Expect, where: str) -> None:
    """One recommended item meets the turn's expected conditions."""
    cats = set(v.categories)
    label = f"{where}: {v.title} ({v.year}, {sorted(cats)})"
    assert set(expect.categories_all) <= cats, label
    assert not set(expect.categories_none) & cats, label
    if expect.categories_any:
        assert set(expect.categories_any) & cats, label
    if expect.year_min is not None:
        assert v.year is not None and v.year >= expect.year_min, label
    if expect.year_max is not None:
        assert v.year is not None and v.year <= expect.year_max, label
    assert v.title not in expect.not_titles, label
    if expect.min_rating is not None:
        assert v.rating_avg is not None and v.rating_avg >= expect.min_rating, label


def _check_final_plan(result: TurnResult, expect: Expect, where: str) -> None:
    """The turn's last plan calls the expected tools and leaves out the expected args."""
    if expect.tools:
        final = result.trace["attempts"][-1]
        used = [c["name"] for c in final["calls"]]
        for tool in expect.tools:
            assert tool in used, f"{where}: {tool} not in {used}"
    for arg in expect.args_absent:
        final = result.trace["attempts"][-1]
        assert all(arg not in (c["args"] or {}) for c in final["calls"]), f"{where}: {arg}"


@pytest.mark.parametrize("name,turns", CONVERSATIONS, ids=[c[0] for c in CONVERSATIONS])
async def test_conversation(
    make_backend_agent: Any, name: str, turns: list[tuple[str, Expect]]
) -> None:
    agent: Agent = await make_backend_agent()
    session_id = None
    shown: set[str] = set()
    for k, (message, expect) in enumerate(turns):
        result = await agent.turn(message, session_id=session_id)
        session_id = result.session_id
        _check(agent.catalog, result, expect, shown, f"{name} turn {k + 1} {message!r}")
        assert result.trace["llm"]["calls"] <= 1 + len(result.trace["reflections"])
        if expect.info_title is None:
            shown |= {r.item_id for r in result.recommendations}
    assert session_id is not None
    stored = await agent.get_session(session_id)
    assert [m.content for m in stored.messages if m.role == "user"] == [t[0] for t in turns]
