"""Fixtures for the turn's steps, each tested without the whole Agent: the collaborators
(the bundled catalog on SQLite, the trained models, the default tools), the offline
planner, and a turn's planning state built by the prompt step."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage

from agent.demonstrations import DemonstrationStore
from agent.executor import planned_calls
from agent.reflection import Critique
from agent.rules import RulesPlanner
from agent.turn.execute import execute_plan
from agent.turn.plan import Planner
from agent.turn.prompt import first_prompt
from agent.turn.state import Collaborators, Outcome, TurnState, item_words
from agent.understanding.acts import load_acts_model
from memory.session import Session
from recagent.settings import Settings
from tests.agent.conftest import World
from tools.recommenders.bundle import ModelBundle

StateFactory = Callable[..., TurnState]


@pytest.fixture
def kit(sqlite_world: World, agent_bundle: ModelBundle, agent_settings: Settings) -> Collaborators:
    return Collaborators(settings=agent_settings, catalog=sqlite_world.catalog,
                         models=agent_bundle, registry=sqlite_world.registry,
                         vocabulary=sqlite_world.vocabulary)


@pytest.fixture(scope="session")
def rules_planner(sqlite_world: World, agent_settings: Settings) -> RulesPlanner:
    return RulesPlanner(vocabulary=sqlite_world.vocabulary, acts_model=load_acts_model(),
                        words=item_words(agent_settings))


@pytest.fixture
def planner(agent_settings: Settings) -> Planner:
    return Planner(agent_settings.llm_timeout_s)


@pytest.fixture
def make_state(kit: Collaborators, planner: Planner, rules_planner: RulesPlanner) -> StateFactory:
    """``make_state(message, model=None, session=None, limit=10)``: a turn's state after the
    prompt step (``model`` defaults to the offline planner)."""
    demos = DemonstrationStore.load(learned_path=None, tools=kit.registry.names())

    def make(message: str, model: BaseChatModel | None = None, session: Session | None = None,
             limit: int = 10) -> TurnState:
        s = session or Session()
        return first_prompt(kit, planner, demos, message=message, session=s, owner=s.user_id,
                            limit=limit, model=model or rules_planner, rules=rules_planner)

    return make


def executed(kit: Collaborators, planner: Planner, st: TurnState, ai: AIMessage) -> Outcome:
    """The outcome of running ``ai``'s plan in ``st`` (taken as the critic accepted it)."""
    attempt = st.trace.new_attempt("initial", "scripted")
    attempt.content = ai.content if isinstance(ai.content, str) else ""
    ctx, execution, recs = execute_plan(kit, planner, planned_calls(ai), st.session, st.owner,
                                        attempt, st.limit)
    return Outcome(attempt, ctx, execution, recs, Critique(ok=True), attempt.content)
