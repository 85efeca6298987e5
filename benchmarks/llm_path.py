"""The LLM path's budget: LLM calls per turn, planner prompt tokens per turn, re-plan rate.

A scripted, realistic conversation mix (greetings, requests, refinements, references to
earlier picks, questions about an item, thanks; conversations up to 12 turns) runs through
the real client path: ``ChatOpenAI`` (``RECAGENT_LLM=openai:stub``) over HTTP to the local
OpenAI-compatible stub (``tests/openai_stub.py``). The stub answers like a real model would:
a plan computed by the offline planner from the prompt it received, returned as native tool
calls, or — for a seeded share of the requests — the way small local models do: written as
``<tool_call>`` text, or with a category the catalog spells differently (a repair round);
greetings and thanks get a plain-text answer; the reply call gets a short text naming the
first recommendation. Nothing is timed: the figures are counts, deterministic for a seed.

    nice .venv/bin/python benchmarks/llm_path.py [--runs 1] [--text-share 0.2] \\
        [--misspell-share 0.1] [--seed 42] [--database-url URL --model-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONVERSATIONS: list[list[str]] = [
    ["hi!", "some comedies from the 90s, no horror", "something else", "thanks, great"],
    ["sci-fi movies after 2010", "now westerns older than 1980", "more like the second one"],
    ["thrillers please", "only from the 80s", "and no horror", "perfect, thank you"],
    ["something like the matirx", "more like the second one", "tell me about the first one"],
    ["something like Heat but from the 80s, no comedy", "thanks"],
    ["tell me about toy story", "what year is Jumanji from?"],
    ["hello", "popular action movies", "hidden gems instead", "cheers"],
    ["highly rated dramas", "I loved the first one", "more like it"],
    ["I loved Heat and I hated Titanic", "show me some dramas from the 90s"],
    ["hello there", "ok, animated films for kids", "thanks a lot"],
    ["a mystery or a western from the 60s"],
    ["anything but horror or comedy, popular ones", "only from after 2000"],
    ["a romcom from the early 2000s", "more please", "something older", "thank you!"],
    ["crime movies between 1985 and 1995", "I did not like the third one, others?"],
    ["something like The Godfather Part 4", "what about war movies"],
    # a long conversation: turn 10 and beyond
    ["hi", "some westerns please, the classic kind", "something like Rio Bravo but more recent",
     "no musicals, nothing too long", "comedies from the 1990s most people know",
     "I loved the first one, more like that", "highly rated dramas about families",
     "something darker, a thriller in a big city", "I did not like the third one",
     "animated ones for a family evening", "a popular sci-fi film with space travel",
     "thanks, that is all"],
]


def _prepare(args: argparse.Namespace) -> tuple[str, Path]:
    if args.database_url and args.model_dir:
        return args.database_url, Path(args.model_dir)
    from tools.catalog.db import ensure_schema, make_engine
    from tools.catalog.ingest import ingest_movielens
    from tools.recommenders.training import train

    work = Path(tempfile.mkdtemp(prefix="recagent-bench-llm-"))
    url = f"sqlite:///{work / 'ml.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    ingest_movielens(engine, ROOT / "recagent/data/ml-latest-small")
    train(engine, work / "models", seed=42, evaluate=False)
    engine.dispose()
    return url, work / "models"


_LISTED = re.compile(r"^- (.+?)(?: \(\d{4}\))?(?::.*)?$", re.M)


def _model(vocabulary: Any, seed: int, text_share: float, misspell_share: float) -> Any:
    """The stub's answers: what a real model would send for the request it received."""
    from langchain_core.messages import HumanMessage, SystemMessage

    from agent.rules import RulesPlanner
    from tests.openai_stub import StubReply

    planner = RulesPlanner(vocabulary=vocabulary)
    rng = random.Random(seed)

    def answer(body: dict[str, Any]) -> StubReply:
        if not body.get("tools"):  # the reply call
            listed = _LISTED.findall(str(body["messages"][-1]["content"]))
            first = listed[0] if listed else ""
            return StubReply(content=f"{first} is a good place to start; the others are "
                                     "close in spirit." if first else "Here you are.")
        msgs: list[Any] = []
        for m in body["messages"]:
            if m["role"] == "system" and isinstance(m.get("content"), str):
                msgs.append(SystemMessage(m["content"]))
            elif m["role"] == "user" and not str(m.get("name", "")).startswith("example"):
                msgs.append(HumanMessage(m["content"]))  # the examples are not the chat
        names = {t["function"]["name"] for t in body["tools"]}
        plan = planner.plan(msgs, names)
        calls = [(c["name"], dict(c["args"])) for c in plan.tool_calls]
        if not calls:
            return StubReply(content=str(plan.content) or "What would you like to watch?")
        replan = any(m["role"] == "tool" for m in body["messages"])
        draw = rng.random()
        if not replan and draw < misspell_share:  # "Sci-Fi" -> "sci fi": a repair round
            for _name, args in calls:
                for key in ("categories_any", "categories_all", "categories_none"):
                    if args.get(key):
                        args[key] = [c.lower().replace("-", " ") + "s" for c in args[key]]
                        break
        if draw >= 1 - text_share:  # small local models write the calls as text
            text = "\n".join("<tool_call>" + json.dumps({"name": n, "arguments": a})
                             + "</tool_call>" for n, a in calls)
            return StubReply(content=text)
        return StubReply(tool_calls=calls)

    return answer


async def _run(args: argparse.Namespace, url: str, model_dir: Path) -> dict[str, Any]:
    from agent.tokens import token_method
    from recagent.runtime import build_runtime
    from recagent.settings import load_settings
    from tests.openai_stub import OpenAIStub

    stub = OpenAIStub()
    stub.start()
    settings = load_settings(database_url=url, model_dir=model_dir, plugins="",
                             llm="openai:stub", llm_base_url=stub.base_url,
                             openai_api_key="sk-bench", llm_max_retries=0)
    runtime = await build_runtime(settings)
    stub.default = _model(await runtime.agent.vocabulary(), args.seed, args.text_share,
                          args.misspell_share)
    calls: list[int] = []
    first_tokens: list[int] = []
    all_tokens: list[int] = []
    late_tokens: list[int] = []  # first plans at turn 10 and later
    replan_tokens: list[int] = []
    replans = fallbacks = no_tool_turns = no_tool_calls = 0
    why: Counter[str] = Counter()  # what started each re-plan
    try:
        for _ in range(args.runs):
            for conversation in CONVERSATIONS:
                sid = None
                for k, message in enumerate(conversation, 1):
                    result = await runtime.agent.turn(message, session_id=sid)
                    sid = result.session_id
                    trace = result.trace
                    calls.append(trace["llm"]["calls"])
                    tokens = trace["prompt_tokens"]
                    first_tokens.append(tokens[0])
                    all_tokens.extend(tokens)
                    if k >= 10:
                        late_tokens.append(tokens[0])
                    replan_tokens.extend(tokens[1:])
                    replans += len(trace["attempts"]) > 1
                    for refl in trace["reflections"][: len(trace["attempts"]) - 1]:
                        if not refl["ok"]:
                            why[f"{message!r}: " + "; ".join(refl["problems"])[:70]] += 1
                    fallbacks += bool(trace["fallbacks"])
                    if not trace["attempts"] or not trace["attempts"][-1]["calls"]:
                        no_tool_turns += 1
                        no_tool_calls += trace["llm"]["calls"]
    finally:
        await runtime.aclose()
        stub.close()
    turns = len(calls)
    return {
        "turns": turns,
        "calls_per_turn": statistics.mean(calls),
        "calls_no_tool_turns": no_tool_calls / max(no_tool_turns, 1),
        "no_tool_turns": no_tool_turns,
        "prompt_mean": statistics.mean(first_tokens),
        "prompt_p50": statistics.median(first_tokens),
        "prompt_max": max(first_tokens),
        "replan_max": max(replan_tokens, default=0),
        "prompt_max_turn10": max(late_tokens) if late_tokens else 0,
        "replan_rate": replans / turns,
        "fallback_rate": fallbacks / turns,
        "unexpected": stub.unexpected,
        "why": why,
        "token_method": token_method(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--text-share", type=float, default=0.2,
                   help="share of plans the model writes as <tool_call> text")
    p.add_argument("--misspell-share", type=float, default=0.1,
                   help="share of first plans with a category spelled differently")
    p.add_argument("--database-url")
    p.add_argument("--model-dir")
    args = p.parse_args(argv)
    url, model_dir = _prepare(args)
    r = asyncio.run(_run(args, url, model_dir))
    print(f"LLM path, {r['turns']} turns ({len(CONVERSATIONS)} conversations x {args.runs}), "
          f"text tool calls {args.text_share:.0%}, misspelled categories "
          f"{args.misspell_share:.0%}, seed {args.seed}; tokens by {r['token_method']}")
    print("| metric | value |")
    print("|---|---|")
    print(f"| LLM calls per turn | {r['calls_per_turn']:.2f} |")
    print(f"| calls per no-tool turn (greetings, thanks) | {r['calls_no_tool_turns']:.2f} "
          f"({r['no_tool_turns']} turns) |")
    print(f"| planner prompt tokens, first plan: mean / p50 | {r['prompt_mean']:.0f} / "
          f"{r['prompt_p50']:.0f} |")
    print(f"| planner prompt tokens, first plan: max / max at turn >= 10 | {r['prompt_max']} / "
          f"{r['prompt_max_turn10']} |")
    print(f"| planner prompt tokens, re-plans: max | {r['replan_max']} |")
    print(f"| re-plan rate (turns with > 1 plan) | {r['replan_rate']:.1%} |")
    print(f"| turns with a fallback | {r['fallback_rate']:.1%} |")
    for reason, n in r["why"].most_common(12):
        print(f"re-plan: {reason} (x{n})")
    return 0 if r["unexpected"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
