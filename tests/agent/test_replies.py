"""The reply and reason writers (agent/responder.py) and the cards of real turns on a books
catalog: grammatical, varied, one sentence about why, no list in a card client's reply, and
a reason per card that is about that card."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent.responder import (
    Card,
    card_reason,
    count_words,
    describe_request,
    media_of,
    numbered_list,
    period,
    template_reply,
)
from agent.service import Agent
from agent.types import Recommendation
from agent.vocabulary import Vocabulary
from memory.store_memory import InMemorySessionStore
from recagent.settings import load_settings
from tools.catalog.db import make_engine
from tools.catalog.ingest import ingest_csv
from tools.catalog.repository import Catalog, ItemFilter
from tools.recommenders.artifacts import load_bundle
from tools.recommenders.training import train
from tools.registry import default_registry

BOOKS = Path(__file__).resolve().parents[1] / "data" / "books"
MOVIE_WORDS = re.compile(r"movie|film|watch", re.IGNORECASE)


def _rec(i: int, title: str, year: int | None = 1995, basis: str = "") -> Card:
    return Card(item_id=str(i), title=title, score=1.0 - i / 100, reason="r", year=year,
                categories=["Thriller"]).with_basis(basis)


# ---- words ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("lo", "hi", "text"), [
    (1990, 1999, "from the 1990s"),
    (None, 1949, "from the 1940s and earlier"),
    (None, 1950, "from 1950 or earlier"),
    (1995, 1995, "from 1995"),
    (1985, 1995, "from 1985 to 1995"),
    (2000, None, "from the 2000s on"),
    (2003, None, "from 2003 on"),
    (1980, 1999, "from the 1980s to the 1990s"),
    (None, None, ""),
])
def test_period_in_words(lo: int | None, hi: int | None, text: str) -> None:
    assert period(lo, hi) == text


def test_counts_are_grammatical() -> None:
    assert count_words(1, "pick", "picks") == "one pick"
    assert count_words(3, "pick", "picks") == "three picks"
    assert count_words(25, "pick", "picks") == "25 picks"


def test_request_described_in_words_not_symbols() -> None:
    f = ItemFilter(categories_all=["Classic", "Mystery"], year_max=1949,
                   categories_none=["Horror"])
    text = describe_request([f], [])
    assert text == "Classic and Mystery from the 1940s and earlier, no Horror"
    assert ";" not in text and "-1949" not in text
    assert describe_request([ItemFilter(year_min=1990, year_max=1999)], []) == "from the 1990s"
    assert describe_request([ItemFilter()], []) == ""


# ---- the template reply --------------------------------------------------------------------
def test_one_pick_is_singular_and_has_no_list() -> None:
    reply = template_reply([_rec(1, "Heat")], about="Thriller from 1995")
    assert "1 picks" not in reply and "one pick" in reply.lower()
    assert "Heat" in reply  # the why-sentence names the top pick
    assert not re.search(r"\b1\. ", reply) and "cards below" not in reply


def test_reply_for_many_says_what_and_why_without_listing() -> None:
    recs = [_rec(k, f"Title {k}", basis="liked:The Hobbit") for k in range(1, 11)]
    reply = template_reply(recs, about="Fantasy from the 1990s")
    assert "ten picks" in reply.lower() and "Fantasy from the 1990s" in reply
    assert "people who liked" in reply.lower()  # why the list fits
    assert "The Hobbit" not in reply  # a reply names recommended items only; cards say it
    assert "Title 1" in reply and "Title 2" not in reply  # the cards carry the rest
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", reply) if s]
    assert 2 <= len(sentences) <= 4, reply


def test_reply_wording_varies_between_lists() -> None:
    replies = {
        template_reply([_rec(k, f"T{k}"), _rec(k + 50, f"U{k}")], about="Comedy").split(".")[0]
        for k in range(12)
    }
    assert len(replies) >= 2, replies  # not one fixed sentence for every list


def test_period_only_request_reads_naturally() -> None:
    reply = template_reply([_rec(1, "A"), _rec(2, "B")], about="from the 1940s and earlier")
    assert "for from" not in reply and ": from" not in reply
    assert "from the 1940s and earlier" in reply


def test_nothing_found_and_unknown_name() -> None:
    reply = template_reply([], about="Western from the 1920s", unresolved=["zxqv"])
    assert 'could not find "zxqv"' in reply
    assert "Nothing in the catalog matches Western from the 1920s." in reply


# ---- reasons -------------------------------------------------------------------------------
def test_card_reasons_are_specific() -> None:
    asked = card_reason(categories=["Crime", "Thriller"], year=1995,
                        asked_categories=["Thriller"], asked_period=True)
    assert asked == "A Thriller from 1995, like you asked"
    liked = card_reason(categories=["Action", "Crime"], year=1996, liked="Heat",
                        shared=["Crime"], because_liked=True)
    assert liked == "A Crime from 1996 — because you liked Heat"
    similar = card_reason(categories=["Drama"], year=2001, liked="Heat")
    assert similar == "Popular with people who liked Heat"
    rated = card_reason(categories=[], rating_avg=4.25, rating_count=120)
    assert rated == "Rated 4.2/5 by 120 people"
    assert card_reason()  # never empty
    assert card_reason(categories=["Fantasy"], year=None)


def test_numbered_list_has_a_reason_per_line() -> None:
    recs = [Recommendation(item_id="1", title="Heat", score=1, reason="Because you liked Ronin",
                           year=1995),
            Recommendation(item_id="2", title="Ronin (1998)", score=1, reason="A Thriller",
                           year=1998)]
    assert numbered_list(recs).splitlines() == [
        "   1. Heat (1995) — Because you liked Ronin",
        "   2. Ronin (1998) — A Thriller",
    ]


def test_links_and_pictures_from_attributes() -> None:
    assert media_of({"imdb_id": "1", "imdb_url": "https://www.imdb.com/title/tt0000001/",
                     "tmdb_url": "https://www.themoviedb.org/movie/2"}) == (
        "https://www.imdb.com/title/tt0000001/", None)
    assert media_of({"cover_image": "/c.png", "url": "https://x.org/b1", "note": "hi"}) == (
        "https://x.org/b1", "/c.png")
    assert media_of({"url": "javascript:alert(1)"}) == (None, None)


# ---- real turns on the books catalog -------------------------------------------------------
@pytest.fixture(scope="module")
def books_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    root = tmp_path_factory.mktemp("replies-books")
    url = f"sqlite:///{root / 'books.db'}"
    engine = make_engine(url)
    try:
        ingest_csv(engine, BOOKS / "items.csv", BOOKS / "interactions.csv")
        train(engine, root / "models", seed=42, evaluate=False)
        settings = load_settings(plugins="", item_noun="book", database_url=url,
                                 model_dir=root / "models")
        catalog = Catalog(engine)
        catalog.warm()
        yield settings, catalog, load_bundle(root / "models")
    finally:
        engine.dispose()


@pytest.fixture
async def books_agent(books_world: tuple) -> AsyncIterator[Agent]:
    settings, catalog, bundle = books_world
    agent = Agent(settings=settings, catalog=catalog, models=bundle,
                  registry=default_registry(settings), sessions=InMemorySessionStore(),
                  vocabulary=Vocabulary.from_catalog(catalog))
    yield agent
    await agent.aclose()


async def test_filtered_request_cards_say_their_own_year(books_agent: Agent) -> None:
    result = await books_agent.turn("mystery books from the 1930s")
    assert len(result.recommendations) >= 3
    for rec in result.recommendations:
        assert rec.reason.startswith(f"A Mystery from {rec.year}, like you asked"), rec
    assert "1930s" in result.reply and "1930-1939" not in result.reply
    assert not MOVIE_WORDS.search(result.reply)
    assert not re.search(r"\b1\. ", result.reply)


async def test_similar_request_cards_name_the_liked_book(books_agent: Agent) -> None:
    result = await books_agent.turn("I loved The Hobbit, anything similar?")
    recs = result.recommendations
    assert len(recs) >= 5
    assert all(r.reason and "The Hobbit" in r.reason for r in recs[:5]), recs
    assert len({r.reason for r in recs}) > 1  # not one sentence pasted on every card
    assert "people who liked" in result.reply.lower() and recs[0].title in result.reply
    assert "The Hobbit" not in result.reply  # only recommended titles in the reply
    assert not MOVIE_WORDS.search(result.reply + " ".join(r.reason for r in recs))


async def test_every_card_has_a_reason(books_agent: Agent) -> None:
    for message in ("something popular", "no horror please", "classic mysteries before 1950"):
        result = await books_agent.turn(message)
        assert result.recommendations, message
        assert all(r.reason.strip() for r in result.recommendations), (message, result)
