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
    default_verb,
    describe_request,
    media_of,
    numbered_list,
    period,
    period_label,
    request_phrase,
    template_reply,
)
from agent.service import Agent, item_words
from agent.types import Recommendation
from agent.understanding.policy import Words
from agent.vocabulary import Vocabulary
from memory.store_memory import InMemorySessionStore
from recagent.settings import Settings, load_settings
from tools.catalog.db import make_engine
from tools.catalog.ingest import ingest_csv
from tools.catalog.repository import ItemFilter, SqlCatalog
from tools.recommenders.artifacts import load_bundle
from tools.recommenders.bundle import ModelBundle
from tools.recommenders.training import train
from tools.registry import default_registry

BOOKS = Path(__file__).resolve().parents[1] / "data" / "books"
MOVIE_WORDS = re.compile(r"movie|film|watch", re.IGNORECASE)


def _rec(i: int, title: str, year: int | None = 1995, basis: str = "") -> Card:
    return Card(item_id=str(i), title=title, score=1.0 - i / 100, reason="r", year=year,
                categories=["Thriller"]).with_basis(basis)


BOOK_WORDS = Words("book", "books", "read")
MOVIE_WORDS_ = Words("movie", "movies", "watch")


# ---- words ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("lo", "hi", "text"), [
    (1990, 1999, "from the 1990s"),
    (None, 1949, "from the 1940s and earlier"),
    (None, 1950, "from 1950 or earlier"),
    (1995, 1995, "from 1995"),
    (1985, 1995, "from 1985 to 1995"),
    (2000, None, "from the 2000s on"),
    (1981, None, "after 1980"),
    (2003, None, "from 2003 on"),
    (1960, 1979, "from the 1960s and 1970s"),
    (1960, 1989, "from the 1960s to the 1980s"),
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


@pytest.mark.parametrize(("f", "n", "text"), [
    (ItemFilter(categories_any=["Fantasy"], year_min=1996, year_max=1996), 1,
     "one Fantasy book from 1996"),
    (ItemFilter(categories_any=["Comedy"], year_min=1980, year_max=1989,
                categories_none=["Romance"]), 10,
     "ten Comedy books from the 1980s without Romance"),
    (ItemFilter(categories_any=["Comedy", "Romance"]), 2, "two Comedy or Romance books"),
    (ItemFilter(categories_all=["Classic", "Mystery"], year_max=1949), 6,
     "six Classic and Mystery books from the 1940s and earlier"),
    (ItemFilter(year_min=1990, year_max=1999), 3, "three books from the 1990s"),
    (ItemFilter(tags_all=["wizards"]), 4, "four books about wizards"),
    (ItemFilter(categories_any=["Horror"], popularity_pct_min=90), 14,
     "14 well-known Horror books"),
    (ItemFilter(categories_none=["Horror"]), 0, "no books without Horror"),
    (ItemFilter(), 10, ""),
])
def test_request_phrase_counts_the_catalogs_noun(f: ItemFilter, n: int, text: str) -> None:
    assert request_phrase([f], n, BOOK_WORDS) == text


def test_verb_defaults_per_catalog_and_the_setting_wins() -> None:
    assert default_verb("movie") == "watch" and default_verb("Film") == "watch"
    assert default_verb("book") == "read" and default_verb("paperback novel") == "read"
    assert default_verb("product") == "buy"
    assert default_verb("widget") == "try" and default_verb("item") == "try"
    books = item_words(load_settings(item_noun="book"))
    assert (books.noun, books.plural, books.verb) == ("book", "books", "read")
    assert item_words(load_settings(item_noun="book", item_verb="borrow")).verb == "borrow"
    assert item_words(load_settings(item_noun="movie")).verb == "watch"
    assert item_words(load_settings()).verb == "try"


# ---- the template reply --------------------------------------------------------------------
def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


def test_one_pick_is_singular_and_has_no_list() -> None:
    f = ItemFilter(categories_any=["Thriller"], year_min=1995, year_max=1995)
    reply = template_reply([_rec(1, "Heat")], filters=[f], words=MOVIE_WORDS_)
    assert "1 picks" not in reply and "one thriller movie from 1995" in reply.lower()
    assert "movies" not in reply and "come first" not in reply  # no ranking talk for one
    assert "Heat" in reply  # the why-sentence names the pick
    assert not re.search(r"\b1\. ", reply) and "card" not in reply and "below" not in reply


def test_reply_for_many_says_what_and_why_without_listing() -> None:
    recs = [_rec(k, f"Title {k}", basis="liked:The Hobbit") for k in range(1, 11)]
    f = ItemFilter(categories_any=["Fantasy"], year_min=1990, year_max=1999)
    reply = template_reply(recs, filters=[f], words=BOOK_WORDS)
    assert "ten Fantasy books from the 1990s" in reply
    assert "the book you liked" in reply  # why the list fits
    assert "The Hobbit" not in reply  # a reply names recommended items only; cards say it
    assert "Title 1" in reply and "Title 2" not in reply  # the cards / the list carry the rest
    assert len(_sentences(reply)) == 2, reply
    # the same reply above the widget's cards and above a terminal's numbered list
    assert not re.search(r"card|below|\b1\. ", reply, re.I), reply


def test_why_sentence_tells_liked_from_named_and_counts_the_seeds() -> None:
    named = [_rec(k, f"T{k}", basis="similar:The Hobbit") for k in range(1, 4)]
    assert "the book you named" in template_reply(named, words=BOOK_WORDS)
    several = [_rec(1, "A", basis="liked:Dune"), _rec(2, "B", basis="liked:Emma"),
               _rec(3, "C", basis="liked:Dune")]
    assert "the books you liked" in template_reply(several, words=BOOK_WORDS)
    plain = template_reply([_rec(1, "A"), _rec(2, "B")], words=BOOK_WORDS)
    assert "A" in plain and "fits best" not in plain
    assert "The best matches come first, starting with A." in plain


def test_reply_wording_varies_between_lists() -> None:
    f = ItemFilter(categories_any=["Comedy"])
    replies = {
        template_reply([_rec(k, f"T{k}"), _rec(k + 50, f"U{k}")], filters=[f],
                       words=MOVIE_WORDS_).split(".")[0]
        for k in range(12)
    }
    assert len(replies) >= 2, replies  # not one fixed sentence for every list
    assert all("two comedy movies" in r.lower() for r in replies), replies


def test_reply_without_conditions_uses_the_catalogs_noun_and_verb() -> None:
    replies = {template_reply([_rec(k, f"T{k}"), _rec(k + 50, f"U{k}")], words=BOOK_WORDS)
               for k in range(12)}
    assert all("two books" in r for r in replies), replies
    assert any("to read" in r for r in replies), replies
    assert not any(MOVIE_WORDS.search(r) or "pick" in r for r in replies), replies


def test_period_only_request_reads_naturally() -> None:
    f = ItemFilter(year_max=1949)
    reply = template_reply([_rec(1, "A"), _rec(2, "B")], filters=[f], words=BOOK_WORDS)
    assert "for from" not in reply and ": from" not in reply
    assert "two books from the 1940s and earlier" in reply


def test_nothing_found_and_unknown_name() -> None:
    f = ItemFilter(categories_any=["Western"], year_min=1920, year_max=1929)
    reply = template_reply([], filters=[f], words=MOVIE_WORDS_, unresolved=["zxqv"])
    assert 'could not find "zxqv"' in reply
    assert "I found no Western movies from the 1920s in the catalog." in reply
    assert "naming a movie you liked" in reply
    bare = template_reply([], words=BOOK_WORDS)
    assert bare.startswith("I found no books that fit.")


# ---- reasons -------------------------------------------------------------------------------
def test_card_reasons_are_specific() -> None:
    asked = card_reason(categories=["Thriller"], year=1995, asked_categories=["Thriller"],
                        period_met="the 1990s", noun="movie")
    assert asked == "A Thriller movie from 1995, matching Thriller and the 1990s"
    # the card's own second category and year: not the filter pasted on every card
    own = card_reason(categories=["Action", "Crime", "Thriller"], year=1996,
                      asked_categories=["Thriller"], noun="movie")
    assert own == "An Action Thriller movie from 1996, matching Thriller"
    liked = card_reason(categories=["Action", "Crime"], year=1996, liked="Heat",
                        shared=["Crime"], because_liked=True, noun="movie")
    assert liked == "A Crime movie from 1996 — because you liked Heat"
    similar = card_reason(categories=["Drama"], year=2001, liked="Heat", noun="movie")
    assert similar == "Popular with people who liked Heat"
    years = card_reason(categories=["Drama"], year=1996, period_met="1990 to 1999",
                        noun="movie")
    assert years == "A Drama movie from 1996, matching 1990 to 1999"
    tagged = card_reason(categories=["Crime"], matched=["heist"], noun="movie")
    assert tagged == "Tagged “heist”"
    rated = card_reason(categories=[], rating_avg=4.25, rating_count=120)
    assert rated == "Rated 4.2/5 by 120 people"
    assert card_reason()  # never empty
    assert card_reason(categories=["Fantasy"], year=None, noun="book") == "A Fantasy book"


def test_a_reason_claims_only_the_conditions_applied_and_the_order_used() -> None:
    """The trial's complaint: "An Action Sci-Fi movie from 1999, like you asked" after the
    user had only said "more action" (no filter said Action). A reason names the applied
    conditions the card meets, and what the list was really ordered by."""
    reason = card_reason(categories=["Adventure", "Animation", "Children"], year=2001,
                         asked_categories=["Animation"], ranked="popularity",
                         rating_avg=3.9, rating_count=170, noun="movie")
    assert reason == ("An Adventure Animation movie from 2001, matching Animation — ranked by "
                      "popularity, rated 3.9/5 by 170 people")
    assert "asked" not in reason and "Adventure" not in reason.partition("matching")[2]
    floor = card_reason(categories=["Comedy", "Drama"], year=1994, asked_categories=["Comedy"],
                        rating_met=4.0, ranked="rating", noun="book")
    assert floor == ("A Comedy Drama book from 1994, matching Comedy and a rating of 4 or "
                     "better — ranked by rating")
    # no condition applied and no ranking said: the facts, no claim
    assert card_reason(categories=["War"], year=1970, rating_avg=3.1, rating_count=8,
                       noun="film") == "Rated 3.1/5 by 8 people"


@pytest.mark.parametrize(("lo", "hi", "label"), [
    (1990, 1999, "the 1990s"), (1995, 1995, "1995"), (None, 1949, "the 1940s and earlier"),
    (1981, None, "the years after 1980"), (2003, None, "2003 on"),
])
def test_a_period_reads_after_matching(lo: int | None, hi: int | None, label: str) -> None:
    assert period_label(lo, hi) == label


def test_no_reply_says_the_request_was_met_as_asked() -> None:
    """Whatever the variant picked, the reply states what was found, never "as you asked"
    (a count or a "not ..." the plan could not apply would be claimed met)."""
    f = ItemFilter(categories_any=["Western"], year_min=1960, year_max=1969)
    replies = {template_reply([_rec(k, f"Title {k}"), _rec(k + 1, f"Other {k}")], filters=[f],
                              words=MOVIE_WORDS_) for k in range(40)}
    assert len({r.split(" two ")[0] for r in replies}) == 3  # every opening was picked
    for reply in replies:
        assert "asked" not in reply and "two Western movies from the 1960s" in reply, reply


@pytest.mark.parametrize("category", ["Horror", "Documentary", "Animation", "War", "Children"])
def test_a_category_that_is_no_count_noun_still_reads(category: str) -> None:
    reason = card_reason(categories=[category], year=1988, asked_categories=[category],
                         noun="book")
    article = "An" if category[0] in "AEIOU" else "A"
    assert reason == f"{article} {category} book from 1988, matching {category}"


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
BooksWorld = tuple[Settings, SqlCatalog, ModelBundle]


@pytest.fixture(scope="module")
def books_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BooksWorld]:
    root = tmp_path_factory.mktemp("replies-books")
    url = f"sqlite:///{root / 'books.db'}"
    engine = make_engine(url)
    try:
        ingest_csv(engine, BOOKS / "items.csv", BOOKS / "interactions.csv")
        train(engine, root / "models", seed=42, evaluate=False)
        settings = load_settings(plugins="", item_noun="book", database_url=url,
                                 model_dir=root / "models")
        catalog = SqlCatalog(engine)
        catalog.warm()
        yield settings, catalog, load_bundle(root / "models")
    finally:
        engine.dispose()


@pytest.fixture
async def books_agent(books_world: BooksWorld) -> AsyncIterator[Agent]:
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
        assert re.fullmatch(rf"An? (\w+ )?Mystery( \w+)? book from {rec.year}, matching "
                            r"Mystery and the 1930s( — .+)?", rec.reason), rec
    assert len({r.reason for r in result.recommendations}) > 1  # not the filter pasted
    assert "Mystery books from the 1930s" in result.reply and "1930-1939" not in result.reply
    assert not MOVIE_WORDS.search(result.reply)
    assert not re.search(r"\b1\. ", result.reply)


async def test_similar_request_cards_name_the_liked_book(books_agent: Agent) -> None:
    result = await books_agent.turn("I loved The Hobbit, anything similar?")
    recs = result.recommendations
    assert len(recs) >= 5
    assert all(r.reason and "The Hobbit" in r.reason for r in recs[:5]), recs
    assert len({r.reason for r in recs}) > 1  # not one sentence pasted on every card
    assert "the book you liked" in result.reply and recs[0].title in result.reply
    assert "The Hobbit" not in result.reply  # only recommended titles in the reply
    assert not MOVIE_WORDS.search(result.reply + " ".join(r.reason for r in recs))


async def test_the_session_keeps_each_cards_reason(books_agent: Agent) -> None:
    """A client rebuilding the cards after a reload reads the same reasons back."""
    result = await books_agent.turn("mystery books from the 1930s")
    session = await books_agent.get_session(result.session_id)
    last = session.messages[-1]
    assert last.recommendations == [r.item_id for r in result.recommendations]
    assert last.reasons == [r.reason for r in result.recommendations] and all(last.reasons)


async def test_every_card_has_a_reason(books_agent: Agent) -> None:
    for message in ("something popular", "no horror please", "classic mysteries before 1950"):
        result = await books_agent.turn(message)
        assert result.recommendations, message
        assert all(r.reason.strip() for r in result.recommendations), (message, result)


async def test_a_wish_no_filter_expresses_is_said_to_be_only_pushed_down(
        books_agent: Agent) -> None:
    """"not a psychological one" has no category to exclude: the reply says it only moved
    such books down, and no card claims more than the Thriller filter."""
    result = await books_agent.turn("any thriller, though please not a psychological one")
    calls = [c for a in result.trace["attempts"] for c in a["calls"]]
    assert {"name": "search_text", "args": {"avoid": "psychological"}} in calls  # premise
    assert "“psychological” is only moved down the list, not left out" in result.reply
    assert result.recommendations
    for rec in result.recommendations:
        assert rec.reason.partition(", matching ")[2].startswith("Thriller"), rec.reason
        assert "asked" not in rec.reason and "psycholog" not in rec.reason, rec.reason
    assert "asked" not in result.reply


async def test_why_an_item_was_picked_gives_its_cards_reason(books_agent: Agent) -> None:
    first = await books_agent.turn("I loved The Hobbit, anything similar?")
    third = first.recommendations[2]
    why = await books_agent.turn("why did you pick the 3rd?", session_id=first.session_id)
    assert why.reply.startswith(
        f"{third.title} ({third.year}) was third on my list: "
        f"{third.reason[:1].lower() + third.reason[1:]}."), why.reply
    assert "liked The Hobbit" in why.reply  # what ranked it, not only its facts
    assert not re.search(r"\d/5 from \d", why.reply) and "Why I picked it" not in why.reply


async def test_why_a_popular_pick_says_what_it_met_and_what_ranked_it(
        books_agent: Agent) -> None:
    first = await books_agent.turn("mystery books from the 1930s")
    second = first.recommendations[1]
    why = await books_agent.turn("why is number 2 on the list?", session_id=first.session_id)
    assert why.reply.startswith(f"{second.title} ({second.year}) was second on my list: ")
    assert "matching Mystery and the 1930s" in why.reply and "ranked by popularity" in why.reply
    # a book on no list, that nothing liked points to: its facts, said to be no reason
    other = await books_agent.turn("why would I like Dracula?", session_id=first.session_id)
    assert other.reply.startswith("Dracula (1897) was not on my list, and nothing you liked "
                                  "or named points to it (Classic and Horror, rated "), other
