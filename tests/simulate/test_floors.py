"""The two floors, driven by the same harness as the agent."""

from __future__ import annotations

import asyncio

from recagent import simulation as sim


def test_filter_floor_applies_what_was_revealed(mini_catalog: sim.SimCatalog,
                                                mini_episodes: list[sim.Episode]) -> None:
    floor = sim.FilterFloor(mini_catalog)
    for episode in mini_episodes[:10]:
        result = asyncio.run(sim.run_episode(floor, episode, seed=1, cold_start=False,
                                             max_turns=4))
        user = sim.SimulatedUser(episode, seed=1)  # replays the same words
        user.opening()
        shown: set[str] = set()
        for turn in result.turns:
            revealed = list(user.revealed)
            cats = {a.value for a in revealed if a.kind == "category"}
            decade = [a.value for a in revealed if a.kind == "decade"]
            pops = []
            for item_id in turn.items:
                item = mini_catalog.items[item_id]
                assert cats <= {c.casefold() for c in item.categories}
                if decade:
                    assert f"{sim.decade_of(item.year)}s" == decade[0]
                assert item_id not in episode.seen and item_id not in shown
                pops.append(item.popularity)
            assert pops == sorted(pops, reverse=True)
            assert len(turn.items) <= sim.ACCEPT_K  # the user is shown k items
            shown.update(turn.items)
            if turn.rank is not None and turn.rank <= sim.ACCEPT_K:
                break
            user.react(turn.items)


def test_cf_floor_pages_through_the_users_top_list(mini_workspace: sim.Workspace,
                                                   mini_catalog: sim.SimCatalog,
                                                   mini_episodes: list[sim.Episode]) -> None:
    floor = sim.CFFloor.build(mini_workspace, mini_catalog, max_turns=3)
    episode = mini_episodes[0]
    top = [s.item_id for s in floor.model.recommend(episode.user_id, 30)]
    result = asyncio.run(sim.run_episode(floor, episode, seed=1, cold_start=False, max_turns=3))
    got = [i for t in result.turns for i in t.items]
    assert got == top[: len(got)] and len(result.turns[0].items) == sim.ACCEPT_K
    assert all(t.repeats == 0 for t in result.turns)
    # a user with cutoff k = 10 is shown 10 a turn, from the same list
    wide = asyncio.run(sim.run_episode(floor, episode, seed=1, cold_start=False, max_turns=3,
                                       k=10))
    assert [len(t.items) for t in wide.turns][:1] == [10]
    assert [i for t in wide.turns for i in t.items] == top[: sum(len(t.items) for t in wide.turns)]
    cold = asyncio.run(sim.run_episode(floor, episode, seed=1, cold_start=True, max_turns=1,
                                       k=10))
    assert cold.turns[0].items == mini_catalog.by_popularity[:10]
