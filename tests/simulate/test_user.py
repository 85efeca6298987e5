"""The simulated user: what it says, what it reveals, when it accepts."""

from __future__ import annotations

import pytest

from recagent import simulation as sim


def _talk(user: sim.SimulatedUser, misses: int) -> list[sim.Utterance]:
    """The opening plus ``misses`` answers to recommendations without the target."""
    said = [user.opening()]
    for _ in range(misses):
        said.append(user.react(["not-the-target"] * 10))
    return said


def _said_value(attr: sim.Attribute, text: str) -> bool:
    low = text.casefold()
    if attr.kind == "decade":
        return any(d.casefold() in low for d in sim.decade_phrases(int(attr.value[:-1])))
    return attr.value.casefold() in low


@pytest.mark.parametrize("cold_start", [False, True])
def test_never_says_the_target_title(ml_episodes: list[sim.Episode], cold_start: bool) -> None:
    assert len(ml_episodes) > 600  # every MovieLens user with a rating >= 4
    for episode in ml_episodes:
        user = sim.SimulatedUser(episode, seed=3, cold_start=cold_start)
        for utterance in _talk(user, 12):
            assert not sim.mentions_title(utterance.text, episode.target_title), (
                episode.user_id, episode.target_title, utterance.text)


def _episode(title: str, **kw: object) -> sim.Episode:
    base: dict[str, object] = dict(
        user_id="u1", target_id="t1", target_title=title, categories=("Horror",),
        decade=1990, tags=("clown", "stephen king"),
        similar=(sim.Attribute("item", "Carrie", "i9"),), seen=frozenset({"i9"}),
    )
    base.update(kw)
    return sim.Episode(**base)  # type: ignore[arg-type]


def test_a_title_that_is_a_common_word_is_still_never_said() -> None:
    # "It": every phrasing with the word "it" must be avoided, and still all four
    # attributes get revealed with the phrasings that remain.
    episode = _episode("It")
    for seed in range(20):
        said = _talk(sim.SimulatedUser(episode, seed=seed), 8)
        assert all(not sim.mentions_title(u.text, "It") for u in said), [u.text for u in said]
        revealed = [u.revealed for u in said if u.revealed is not None]
        assert len(revealed) == 5  # horror, 1990s, clown, stephen king, Carrie


def test_attributes_that_name_the_target_are_never_revealed() -> None:
    episode = _episode("Heat", tags=("heat", "bank robbery"),
                       similar=(sim.Attribute("item", "Heat 2", "i2"),
                                sim.Attribute("item", "Ronin", "i3")))
    said = _talk(sim.SimulatedUser(episode, seed=1), 8)
    values = [u.revealed.value for u in said if u.revealed is not None]
    assert "heat" not in values and "Heat 2" not in values
    assert {"bank robbery", "Ronin"} <= set(values)
    assert all(not sim.mentions_title(u.text, "Heat") for u in said)


def test_each_miss_reveals_one_new_attribute_until_none_is_left(
        ml_episodes: list[sim.Episode]) -> None:
    for episode in ml_episodes[::25]:
        user = sim.SimulatedUser(episode, seed=11)
        available = user.remaining  # the attributes that do not name the target
        assert available >= 2
        opening = user.opening()
        assert opening.kind == "open"
        assert opening.revealed is not None and opening.revealed.kind in ("category", "decade")
        assert _said_value(opening.revealed, opening.text), opening.text
        seen = [opening.revealed]
        for _ in range(available - 1):
            u = user.react(["x"])
            assert u.kind == "reveal" and u.revealed is not None, u
            assert u.revealed not in seen
            assert _said_value(u.revealed, u.text), u.text
            seen.append(u.revealed)
        assert user.remaining == 0
        assert {a.kind for a in seen} >= {"category", "decade"}
        tail = user.react(["x"])  # nothing left to say but "something else"
        assert tail.kind == "nudge" and tail.revealed is None


def test_cold_start_user_mentions_no_history_items(ml_episodes: list[sim.Episode]) -> None:
    for episode in ml_episodes[::50]:
        said = _talk(sim.SimulatedUser(episode, seed=5, cold_start=True), 12)
        assert all(u.revealed is None or u.revealed.kind != "item" for u in said)
        assert any(u.kind == "nudge" for u in said)


def test_accepts_only_when_the_target_is_in_the_top_k() -> None:
    episode = _episode("Some Film")
    user = sim.SimulatedUser(episode, seed=2)
    user.opening()
    at6 = ["a", "b", "c", "d", "e", "t1", "g"]
    assert user.react(at6).kind == "reveal"  # rank 6 is not in the top 5
    at5 = ["a", "b", "c", "d", "t1"]
    assert user.react(at5).kind == "accept"
    with pytest.raises(sim.SimulationError):
        user.react(at5)  # the conversation is over
    wide = sim.SimulatedUser(episode, seed=2, k=10)
    wide.opening()
    assert wide.react(at6).kind == "accept"


def test_same_seed_same_words_other_seed_other_words(ml_episodes: list[sim.Episode]) -> None:
    sample = ml_episodes[:30]

    def transcript(seed: int) -> list[str]:
        return [u.text for e in sample for u in _talk(sim.SimulatedUser(e, seed=seed), 5)]

    assert transcript(42) == transcript(42)
    assert transcript(42) != transcript(43)
    # several phrasings per kind of utterance actually get used
    openings = {u.split(" ")[0] for u in transcript(42)}
    assert len(openings) >= 5


def test_restating_user_repeats_everything_revealed(ml_episodes: list[sim.Episode]) -> None:
    for episode in ml_episodes[::40]:
        user = sim.SimulatedUser(episode, seed=9, restate=True)
        said = _talk(user, 8)
        for i, u in enumerate(said[1:], start=1):
            so_far = [x.revealed for x in said[: i + 1] if x.revealed is not None]
            assert all(_said_value(a, u.text) for a in so_far), (so_far, u.text)
            assert not sim.mentions_title(u.text, episode.target_title)
        # the same words otherwise: the attributes come out in the same order
        plain = sim.SimulatedUser(episode, seed=9)
        assert [u.revealed for u in _talk(plain, 8)] == [u.revealed for u in said]


def test_another_voice_from_a_phrasings_file(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    voice = sim.Phrasings.load(root / "benchmarks" / "phrasings" / "paraphrased.json")
    user = sim.SimulatedUser(_episode("It"), seed=3, phrasings=voice)
    said = _talk(user, 4)
    templates = [t.split("{")[0] for t in voice.open_category + voice.open_decade]
    assert any(s.text.startswith(tuple(p for p in templates if p)) for s in said[:1]), said[0]
    builtin = {t.split("{")[0] for t in sim.OPEN_CATEGORY + sim.OPEN_DECADE if t.split("{")[0]}
    assert not any(s.text.startswith(tuple(builtin)) for s in said)
    bad = Path(str(tmp_path)) / "bad.json"
    bad.write_text('{"reveal": {"category": ["x {cat}"]}}')
    with pytest.raises(sim.SimulationError, match="bad.json"):
        sim.Phrasings.load(bad)
