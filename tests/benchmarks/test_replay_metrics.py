"""The dialogue replay benchmark's pure parts (benchmarks/replay.py): mention parsing, title
mapping, the stopping point, turn kinds and the metrics, on hand-made dialogues."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

# benchmarks/ is a namespace package under the repository root (never put benchmarks/ itself
# on sys.path: benchmarks/tools.py would shadow the ``tools`` package)
from benchmarks import replay as rp


@pytest.fixture(scope="module")
def index() -> rp.TitleIndex:
    E = rp.CatalogEntry
    return rp.TitleIndex([
        E("1", "The Matrix", 1999, 300.0),
        E("2", "Heat", 1995, 200.0),
        E("3", "Heat", 1986, 5.0),
        E("4", "Star Wars: Episode IV - A New Hope", 1977, 250.0),
        E("5", "Enchanted", 2007, 40.0),
        E("6", "Ella Enchanted", 2004, 30.0),
        E("7", "Mirror Mirror", 2012, 20.0),
        E("8", "Black Panther", 2017, 60.0),
        E("9", "Ready Player One", None, 10.0),
        E("10", "Léon: The Professional", 1994, 90.0, ("The Professional", "Léon")),
        E("11", "Toy Story", 1995, 400.0),
    ])


def _u(who: str, text: str, *intents: str) -> dict[str, object]:
    return {"participant": who, "utterance": text,
            "dialogue_acts": [{"intent": i, "slot_values": []} for i in intents]}


DIALOGUES = [
    {"conversation_id": "a", "metadata": {"accepted_recommendations": ["Mirror Mirror "]},
     "conversation": [
         _u("AGENT", "Hi!", "OTH"),
         _u("USER", "Hello there", "OTH"),
         _u("USER", "I loved Enchanted (2007) ! Anything similar?", "SEE", "CRI-C"),
         _u("AGENT", "Maybe Ella Enchanted (2004) ?", "REC-S"),
         _u("USER", "Seen it. Something else?", "SEE", "REJ"),
         _u("AGENT", "Then Mirror Mirror (2012) <Mirror Mirror (2012)>", "REC-S"),
         _u("USER", "Great, thanks! Bye", "ACC", "OTH"),
     ]},
    {"conversation_id": "b", "metadata": {"accepted_recommendations": []},
     "conversation": [
         _u("USER", "hi", "OTH"),
         _u("USER", "a 90s thriller like Heat (1995)", "IQU"),
         _u("USER", "what is it about?", "INQ"),
         _u("USER", "thanks, goodbye", "OTH"),
     ]},
]


@pytest.fixture(scope="module")
def dialogues() -> list[rp.Dialogue]:
    return rp.parse_dialogues(json.loads(json.dumps(DIALOGUES)))


def test_the_bundled_file_parses() -> None:
    ds = rp.load_dialogues(rp.DEFAULT_DIALOGUES)
    assert len(ds) == 259
    assert sum(1 for d in ds if d.accepted) == 76


def test_a_malformed_file_is_refused() -> None:
    with pytest.raises(rp.ReplayError, match="conversation #0"):
        rp.parse_dialogues([{"conversation_id": "x"}])
    with pytest.raises(rp.ReplayError, match="JSON list"):
        rp.parse_dialogues({"conversation": []})


def test_titles_map_by_normalized_title_and_year(index: rp.TitleIndex) -> None:
    assert index.lookup("Matrix, The", 1999) == "1"  # MovieLens spelling
    assert index.lookup("The Matrix", 1999) == "1"
    assert index.lookup("the matrix!", 1999) == "1"
    assert index.lookup("Heat", 1986) == "3"  # the year picks the item
    assert index.lookup("Heat", 1996) == "2"  # a year off by one
    assert index.lookup("Heat", 2010) is None
    assert index.lookup("Star Wars", 1977) == "4"  # the part before the colon
    assert index.lookup("The Professional", 1994) == "10"  # an alternate title
    assert index.lookup("Ready Player One", 2018) == "9"  # catalog item without a year
    assert index.most_popular("Heat") == "2"
    assert index.title_of("1") == "The Matrix (1999)"


def test_mentions(index: rp.TitleIndex) -> None:
    text = ("Theres also Ella Enchanted (2004) and Mirror Mirror (2012) <Mirror Mirror (2012)> "
            "...Also Matrix, The (1999) and Peter Rabbit (2018) . I loved Black Panther (2018)")
    got = [(m.title, m.year, m.item_id) for m in rp.parse_mentions(text, index)]
    assert got == [("Ella Enchanted", 2004, "6"), ("Mirror Mirror", 2012, "7"),
                   ("Matrix, The", 1999, "1"), ("Peter Rabbit", 2018, None),
                   ("Black Panther", 2018, "8")]
    assert [m.item_id for m in rp.parse_mentions("I loved Enchanted (2007) !", index)] == ["5"]
    assert rp.parse_mentions("no movies here (really)", index) == []
    d = rp.Dialogue("m", (rp.Utterance("USER", text, ("PRO",)),), ())
    assert rp.mention_coverage([d], index) == (4, 5)


def test_named_year_and_the_stopping_point(dialogues: list[rp.Dialogue],
                                           index: rp.TitleIndex) -> None:
    assert rp.named_year("Then Mirror Mirror (2012) ?", "Mirror Mirror") == 2012
    assert rp.named_year("Then Mirror Mirror (2012) ?", "Mirror") == 2012  # the words in front
    assert rp.named_year("I like Heat (1995)", "Mirror Mirror") is None
    a, b = dialogues
    assert rp.stopping_point(a) == 5  # before the AGENT utterance naming the accepted title
    assert rp.stopping_point(b) is None  # nothing accepted: replayed whole
    assert rp.accepted_items(a, index) == ["7"]
    seeker_first = rp.Dialogue("c", (
        rp.Utterance("USER", "I want something like Toy Story (1995)", ("IQU",)),
        rp.Utterance("USER", "Or Heat (1986)?", ("PRO",)),
        rp.Utterance("AGENT", "Heat (1986) it is", ("REC-S",)),
    ), ("Heat",))
    assert rp.stopping_point(seeker_first) == 1  # the seeker named it first
    assert rp.accepted_items(seeker_first, index) == ["3"]  # the AGENT's year
    unnamed = rp.Dialogue("d", seeker_first.utterances[:1], ("Heat", "Nope"))
    assert rp.stopping_point(unnamed) is None
    assert rp.accepted_items(unnamed, index) == ["2"]  # most popular "Heat"


def test_turn_kinds(dialogues: list[rp.Dialogue]) -> None:
    a, b = dialogues
    assert rp.turn_kinds(a) == [None, "greeting", "seeking", None, "seeking", None, "goodbye"]
    assert rp.turn_kinds(b) == ["greeting", "seeking", "other", "goodbye"]


class Scripted:
    """Answers from a script: utterance text -> recommended item ids."""

    name = "scripted"

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script = script
        self.starts = 0
        self.seen: list[tuple[str, list[str]]] = []

    async def start(self) -> None:
        self.starts += 1

    async def turn(self, text: str, named: Sequence[str], k: int) -> rp.Reply:
        self.seen.append((text, list(named)))
        return rp.Reply(self.script.get(text, []), "ok")


async def test_replay_and_metrics(dialogues: list[rp.Dialogue], index: rp.TitleIndex) -> None:
    system = Scripted({
        "Hello there": [],
        "I loved Enchanted (2007) ! Anything similar?": ["5", "1", "2", "4", "11", "8", "7"],
        "Seen it. Something else?": [],
        "a 90s thriller like Heat (1995)": ["3", "1"],
        "thanks, goodbye": ["1"],
    })
    records = await rp.replay(system, dialogues, index, k=10)
    assert system.starts == 2
    # dialogue a stops before utterance 5: its goodbye is not sent
    assert [t for t, _n in system.seen][:3] == ["Hello there",
                                                "I loved Enchanted (2007) ! Anything similar?",
                                                "Seen it. Something else?"]
    assert len(system.seen) == 3 + 4
    assert system.seen[1][1] == ["5"]  # what the seeker named so far
    a, b = records
    assert (a.stop, a.stop_by, a.accepted) == (5, "AGENT", ["7"])
    assert a.hit(10) and not a.hit(5)  # "7" is 7th
    m = rp.summarize(records, k=10)
    assert m["hit@k"] == 1.0 and m["hit@5"] == 0.0
    assert (m["accepted_dialogues"], m["accepted_mappable"], m["accepted_judged"]) == (1, 1, 1)
    assert m["seeking_turns"] == 3 and m["seeking_answered"] == pytest.approx(2 / 3)
    assert m["goodbye_turns"] == 1 and m["goodbye_without_list"] == 0.0
    assert m["greeting_turns"] == 2 and m["greeting_without_list"] == 1.0
    # answered: the Enchanted turn (echoes "5"), the Heat turn (names "2", gets "3": no
    # echo), the goodbye (no echo)
    assert m["answered_turns"] == 3 and m["echo_rate"] == pytest.approx(1 / 3)
    fails = rp.failures(records, k=5)
    assert [f["utterance"] for f in fails["no_list"]] == ["Seen it. Something else?"]
    assert [f["utterance"] for f in fails["goodbye_list"]] == ["thanks, goodbye"]
    assert fails["echo"][0]["echoed"] == ["Enchanted (2007)"]
    assert [f["dialogue"] for f in fails["miss"]] == ["a"]  # at k=5
    table = rp.format_table([("scripted", m)])
    assert table.splitlines()[2].startswith("| scripted | 1.000 | 0.000 | 0.667 | 0.000 |")
    assert "n/a" in rp.format_acts(None)


async def test_the_floors_leave_out_what_was_named(index: rp.TitleIndex) -> None:
    pop = rp.PopularityFloor(index)
    assert (await pop.turn("x", [], 3)).items == ["11", "1", "4"]
    assert (await pop.turn("x", ["11", "4"], 3)).items == ["1", "2", "10"]
