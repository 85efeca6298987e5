"""What the offline rules planner gives people who state a count, a rating floor, a title
they did not like among ones they did, an open period, or a goodbye after an answer about an
item: on the bundled MovieLens catalog and on the small books catalog (``tests/data/books``).

Each case is a class of input, written here in phrasings of its own (not the sentences the
misreadings were first found with).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agent.service import Agent
from agent.types import TurnResult
from memory.store_memory import InMemorySessionStore
from tests.agent.conftest import AgentFactory
from tests.agent.test_books_catalog import Books, books  # noqa: F401  (the books fixture)
from tools.catalog.repository import ItemFilter, ItemView


class Talk:
    """One conversation with an agent; what the user gets back each turn."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.session_id: str | None = None
        self.last: TurnResult

    async def say(self, message: str, *, limit: int | None = None) -> list[ItemView]:
        self.last = await self.agent.turn(message, session_id=self.session_id, limit=limit)
        self.session_id = self.last.session_id
        ids = [r.item_id for r in self.last.recommendations]
        views = self.agent.catalog.get_items(ids, n_tags=0)
        return [views[i] for i in ids]

    def filter_args(self) -> dict[str, object]:
        calls = self.last.trace["attempts"][-1]["calls"]
        return next((dict(c["args"]) for c in calls if c["name"] == "filter_items"), {})

    def where(self) -> str:
        calls = [(c["name"], c["args"]) for c in self.last.trace["attempts"][-1]["calls"]]
        return f"reply {self.last.reply!r}, plan {calls}"


def id_of(agent: Agent, title: str) -> str:
    everything = agent.catalog.filter_ids(ItemFilter())
    ids = [i for i, t in agent.catalog.titles(everything).items() if t == title]
    assert len(ids) == 1, title
    return ids[0]


@pytest.fixture
async def movies(make_agent: AgentFactory) -> Agent:
    agent: Agent = await make_agent()
    return agent


@pytest.fixture
async def books_agent(books: Books) -> AsyncIterator[Agent]:  # noqa: F811
    store = InMemorySessionStore()
    made = Agent(settings=books.settings, catalog=books.catalog, models=books.bundle,
                 registry=books.registry, sessions=store, vocabulary=books.vocabulary)
    yield made
    await made.aclose()
    await store.aclose()


# ---- an explicit count bounds the list ---------------------------------------------------


@pytest.mark.parametrize("message,n,category", [
    ("could you suggest 3 horror films?", 3, "Horror"),
    ("I'd like just one animated film", 1, "Animation"),
    ("four crime movies for the weekend", 4, "Crime"),
])
async def test_a_count_in_the_request_bounds_the_list(movies: Agent, message: str, n: int,
                                                      category: str) -> None:
    talk = Talk(movies)
    picks = await talk.say(message)
    assert len(picks) == n, talk.where()
    assert all(category in v.categories for v in picks), talk.where()


async def test_a_count_in_a_follow_up_and_the_api_limit_stays_the_upper_bound(
        movies: Agent) -> None:
    talk = Talk(movies)
    first = await talk.say("some westerns")
    assert len(first) == 10, talk.where()
    more = await talk.say("show me five more")
    assert len(more) == 5, talk.where()
    assert all("Western" in v.categories for v in more), talk.where()
    assert not {v.item_id for v in more} & {v.item_id for v in first}
    capped = await Talk(movies).say("twelve comedies please", limit=4)
    assert len(capped) == 4


async def test_a_known_user_gets_the_count_asked_for_none_of_it_rated(movies: Agent) -> None:
    """A known user's rated items are left out by the tools themselves, so a list cut to
    the count asked for is neither short nor made of things they rated."""
    result = await movies.turn("three comedies", user_id="1")
    ids = [r.item_id for r in result.recommendations]
    assert len(ids) == 3
    views = movies.catalog.get_items(ids, n_tags=0)
    assert all("Comedy" in v.categories for v in views.values())
    rated = {i for i, _r in movies.catalog.user_history("1", limit=10_000)}
    assert rated and not set(ids) & rated
    assert all("too_few" not in " ".join(r["problems"]) for r in result.trace["reflections"])


async def test_a_number_that_is_not_a_count_keeps_the_full_list(movies: Agent) -> None:
    talk = Talk(movies)  # a number inside what is described, or after a determiner
    assert len(await talk.say("world war 2 dramas")) == 10, talk.where()
    assert len(await talk.say("something like those two but funnier")) == 10, talk.where()


async def test_a_count_on_the_books_catalog(books_agent: Agent) -> None:
    talk = Talk(books_agent)
    picks = await talk.say("two mysteries, please")
    assert len(picks) == 2, talk.where()
    assert all("Mystery" in v.categories for v in picks), talk.where()


# ---- a rating floor is applied through the filter tool's rating bound ----------------------


@pytest.mark.parametrize("message,floor,category", [
    ("thrillers with an average rating above 3.5", 3.5, "Thriller"),
    ("any romance rated no less than 4?", 4.0, "Romance"),
    ("war movies, rating of 3.8 or higher", 3.8, "War"),
])
async def test_a_rating_floor_is_applied(movies: Agent, message: str, floor: float,
                                         category: str) -> None:
    talk = Talk(movies)
    picks = await talk.say(message)
    assert picks, talk.where()
    assert talk.filter_args().get("min_rating") == floor, talk.where()
    for v in picks:
        assert category in v.categories, talk.where()
        assert v.rating_avg is not None and v.rating_avg >= floor, f"{v.title} {v.rating_avg}"


async def test_a_floor_on_what_the_tools_cannot_filter_is_not_faked(movies: Agent) -> None:
    talk = Talk(movies)
    picks = await talk.say("comedies under 90 minutes")
    assert len(picks) == 10 and all("Comedy" in v.categories for v in picks), talk.where()
    assert set(talk.filter_args()) == {"categories_all"}, talk.where()


async def test_the_rating_floor_carries_to_the_next_turn(movies: Agent) -> None:
    talk = Talk(movies)
    await talk.say("dramas rated at least 4.2")
    picks = await talk.say("from the 80s")
    assert picks, talk.where()
    for v in picks:
        assert "Drama" in v.categories and v.year is not None and 1980 <= v.year <= 1989
        assert v.rating_avg is not None and v.rating_avg >= 4.2, f"{v.title} {v.rating_avg}"


async def test_a_rating_floor_on_the_books_catalog(books_agent: Agent) -> None:
    talk = Talk(books_agent)
    picks = await talk.say("classics with ratings of 4 and up")
    assert picks, talk.where()
    for v in picks:
        assert "Classic" in v.categories, talk.where()
        assert v.rating_avg is not None and v.rating_avg >= 4.0, f"{v.title} {v.rating_avg}"


# ---- a title under negation or contrast is disliked ----------------------------------------


async def test_a_title_negated_after_liked_ones_is_disliked(movies: Agent) -> None:
    talk = Talk(movies)
    picks = await talk.say("I enjoyed Alien and Aliens, but not Prometheus")
    prometheus = id_of(movies, "Prometheus")
    assert picks and prometheus not in {v.item_id for v in picks}, talk.where()
    session = await movies.get_session(talk.session_id or "")
    assert prometheus in session.profile.disliked
    assert id_of(movies, "Alien") in session.profile.liked
    # it stays hidden from what comes next
    later = await talk.say("more science fiction")
    assert prometheus not in {v.item_id for v in later}, talk.where()


async def test_a_title_negated_in_the_same_clause_is_disliked(movies: Agent) -> None:
    talk = Talk(movies)
    await talk.say("Toy Story was wonderful, not Cars though")
    session = await movies.get_session(talk.session_id or "")
    assert id_of(movies, "Cars") in session.profile.disliked
    assert id_of(movies, "Toy Story") in session.profile.liked


async def test_not_having_seen_a_title_is_no_dislike(movies: Agent) -> None:
    talk = Talk(movies)
    await talk.say("I haven't seen Ronin yet, anything like it?")
    session = await movies.get_session(talk.session_id or "")
    assert id_of(movies, "Ronin") not in session.profile.disliked, talk.where()


async def test_a_negated_title_on_the_books_catalog(books_agent: Agent) -> None:
    talk = Talk(books_agent)
    picks = await talk.say("Loved Dracula and Frankenstein, not The Shining")
    shining = id_of(books_agent, "The Shining")
    assert picks and shining not in {v.item_id for v in picks}, talk.where()
    session = await books_agent.get_session(talk.session_id or "")
    assert shining in session.profile.disliked


# ---- periods: "from YEAR" is that year; "YEAR onwards" / "or later" open it ----------------


async def test_an_open_period_after_a_year(movies: Agent) -> None:
    talk = Talk(movies)
    picks = await talk.say("animated films from 2005 onwards")
    assert picks and talk.filter_args().get("year_min") == 2005, talk.where()
    assert "year_max" not in talk.filter_args(), talk.where()
    assert all(v.year is not None and v.year >= 2005 for v in picks)
    assert any(v.year is not None and v.year > 2005 for v in picks)
    picks = await Talk(movies).say("westerns made in 1970 or earlier")
    assert picks and all(v.year is not None and v.year <= 1970 for v in picks)


async def test_from_a_year_alone_is_that_year(movies: Agent) -> None:
    """As the bundled dialogues use it ("anything else that's from 2018?")."""
    talk = Talk(movies)
    picks = await talk.say("any good dramas from 2001?")
    assert picks and all(v.year == 2001 for v in picks), talk.where()


async def test_an_open_period_on_the_books_catalog(books_agent: Agent) -> None:
    talk = Talk(books_agent)
    picks = await talk.say("mysteries, 1935 and later")
    assert picks, talk.where()
    assert all("Mystery" in v.categories and v.year is not None and v.year >= 1935
               for v in picks), talk.where()


# ---- a goodbye after an answer about an item is a goodbye ----------------------------------


async def _greeting(agent: Agent) -> str:
    return (await agent.turn("hello")).reply


async def test_a_goodbye_after_an_answer_about_an_item(movies: Agent) -> None:
    greeting = await _greeting(movies)
    talk = Talk(movies)
    await talk.say("Is Toy Story any good?")
    assert not await talk.say("ok thank you, goodbye!")
    assert talk.last.reply != greeting and "?" not in talk.last.reply, talk.where()


async def test_a_goodbye_after_an_answer_on_the_books_catalog(books_agent: Agent) -> None:
    greeting = await _greeting(books_agent)
    talk = Talk(books_agent)
    await talk.say("what is Dune about?")
    assert not await talk.say("great, thanks! bye")
    assert talk.last.reply != greeting and "?" not in talk.last.reply, talk.where()
