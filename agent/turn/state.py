"""What a turn carries from step to step: the agent's collaborators, the planning state of
the rounds, each executed plan's outcome, the reply's parts, and the session changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from agent.executor import Execution
from agent.reflection import Critique
from agent.reply_prompt import Observation, relaxed_conditions
from agent.responder import default_verb
from agent.rules import RulesPlanner
from agent.trace import AttemptReason, PlanAttempt, TurnTrace
from agent.types import Recommendation
from agent.understanding.policy import Words
from agent.vocabulary import Vocabulary
from memory.session import Expectations, Message, Session
from recagent.settings import Settings
from tools.catalog.protocol import Catalog
from tools.context import ToolContext
from tools.recommenders.bundle import ModelBundle
from tools.registry import ToolRegistry

MAX_REPLY_CHARS = 4000  # an LLM-written reply, at most (the model is also capped in tokens)


def item_words(settings: Settings) -> Words:
    """The catalog's words for its items (noun, plural, verb), from the settings."""
    noun = settings.item_noun.strip()
    plural = (settings.item_noun_plural or "").strip() or (
        noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else
        noun + "es" if noun.endswith(("s", "x", "ch", "sh")) else noun + "s")
    verb = (settings.item_verb or "").strip() or default_verb(noun)
    return Words(noun, plural, verb)


@dataclass(frozen=True)
class Collaborators:
    """What the steps read: the agent's settings, catalog, models (the bundle of the turn's
    start: a reload mid-turn does not change it), tools and the catalog's vocabulary."""

    settings: Settings
    catalog: Catalog
    models: ModelBundle
    registry: ToolRegistry
    vocabulary: Vocabulary
    llm_critic: bool = False  # an LLM also judges the rule critic's accepted plans

    @property
    def words(self) -> Words:
        return item_words(self.settings)

    def knows_user(self, user_id: str | None) -> bool:
        """Whether the default model has ``user_id``'s history (ranks "for you")."""
        if user_id is None:
            return False
        try:
            return bool(self.models.default.knows_user(user_id))
        except LookupError:
            return False


@dataclass
class Outcome:
    """One executed plan: its attempt, the tools' context and results, the recommended ids,
    the critic's verdict, the planner's text."""

    attempt: PlanAttempt
    ctx: ToolContext
    execution: Execution
    recs: list[str]
    critique: Critique
    content: str
    relaxed: list[str] = field(default_factory=list)  # conditions a re-plan let go


@dataclass
class TurnState:
    """One turn's planning state, carried from round to round."""

    message: str
    session: Session
    owner: str | None
    limit: int
    model: BaseChatModel  # the planner of the next round (the offline one after a fallback)
    rules: RulesPlanner
    trace: TurnTrace
    start: float
    messages: list[BaseMessage]  # the next round's prompt
    base_messages: list[BaseMessage]  # what a re-plan's prompt starts from
    schemas: list[dict[str, Any]]
    hidden_before: set[str]
    outcomes: list[Outcome] = field(default_factory=list)
    critiques: list[dict[str, Any]] = field(default_factory=list)  # for the re-plan prompt
    seen_plans: list[list[dict[str, Any]]] = field(default_factory=list)
    reason: AttemptReason = "initial"  # why the next round plans
    critique_text: str = ""
    fixes: int = 0
    reflections: int = 0
    repaired_text: bool = False  # an unreadable plan was sent back once
    done: bool = False


def best_outcome(outcomes: list[Outcome]) -> Outcome:
    """The turn's answer: a plan with items (or a plain answer), fewest problems, latest;
    the conditions it let go of the first plan noted."""
    best = max(
        enumerate(outcomes),
        key=lambda p: (
            bool(p[1].recs) or not p[1].attempt.calls,
            -len(p[1].critique.codes),
            p[0],
        ),
    )[1]
    if best is not outcomes[0]:
        best.relaxed = relaxed_conditions(outcomes[0].attempt.calls, best.attempt.calls)
    return best


@dataclass
class Draft:
    """What a turn's reply is built from (see :func:`agent.turn.respond.draft`)."""

    template: str  # the template reply: the answer when no LLM writes one
    about: str  # the request, described
    observation: Observation  # what the plan found, for the reply writer
    clarify: str  # a reply that is not about cards: no LLM rewrites it


@dataclass
class Reply:
    """The reply's text, as the respond step settles it."""

    text: str


@dataclass
class SessionChanges:
    """What a turn writes into its session; re-applied to a fresh copy after a lost
    compare-and-set race."""

    message: str
    reply: str
    recs: list[Recommendation]
    info_plan: bool
    owner: str | None
    added_likes: list[str]
    added_dislikes: list[str]
    added_seen: list[str]
    expectations: Expectations | None

    @classmethod
    def of(
        cls, message: str, reply: str, recs: list[Recommendation], session: Session,
        ctx: ToolContext, info_plan: bool, owner: str | None,
    ) -> SessionChanges:
        """The changes of a turn: its messages, the cards shown, and what the plan changed
        in the working copy's profile (``ctx.session``) against the loaded ``session``."""
        profile = ctx.session.profile
        # items the user named this turn are never recommended back to them later either
        named = [i for i in ctx.bus.mentioned if i not in profile.liked and i not in
                 profile.disliked]
        return cls(
            message=message,
            reply=reply,
            recs=recs,
            info_plan=info_plan,
            owner=owner,
            added_likes=[i for i in profile.liked if i not in session.profile.liked],
            added_dislikes=[i for i in profile.disliked if i not in session.profile.disliked],
            added_seen=[i for i in list(profile.seen) + named if i not in session.profile.seen],
            expectations=profile.expectations if ctx.notes.profile_changes else None,
        )

    def apply(self, s: Session) -> None:
        rec_ids = [r.item_id for r in self.recs]
        s.messages.append(Message(role="user", content=self.message))
        s.messages.append(Message(role="assistant", content=self.reply, recommendations=rec_ids,
                                  reasons=[r.reason for r in self.recs]))
        if not self.info_plan:
            s.shown.extend(i for i in rec_ids if i not in s.shown)
        for i in self.added_likes:
            s.profile.like(i)
        for i in self.added_dislikes:
            s.profile.dislike(i)
        for i in self.added_seen:
            s.profile.saw(i)
        if self.expectations is not None:
            s.profile.expectations = self.expectations.model_copy(deep=True)
        if s.user_id is None and self.owner is not None:
            s.user_id = self.owner
