"""Turn latency excluding LLM time, LLM calls and prompt tokens per turn.

Runs scripted multi-turn conversations against the agent on ml-latest-small (SQLite,
in-process sessions) with two planners:

- ``rules``: the offline planner (its "LLM" call is in-process; counted as LLM time),
- ``stub``: ``ChatOpenAI`` against the local OpenAI-compatible stub server answering
  instantly (plans computed by the rules planner inside the stub; replies canned).

"Excluding LLM time" = wall time of ``Agent.turn`` minus the time spent inside LLM calls
(as the trace measures them, HTTP round trip included for the stub).

``--dataset synthetic`` runs broad requests ("comedies", "dramas please": ~100k candidates
each) on the 1M-item synthetic catalog of ``benchmarks/tools.py`` (generate it there first;
its ALS model and text index are served as an artifact). ``--baseline DIR`` (another
checkout, e.g. ``git worktree add /tmp/base HEAD``) measures that code too: ``--rounds``
rounds, each one process on the baseline's code and one on this tree's, order alternating;
the table shows both (medians over the rounds) and the ratio.

    nice .venv/bin/python benchmarks/turn.py [--runs 5] [--database-url URL --model-dir DIR]
    nice .venv/bin/python benchmarks/turn.py --dataset synthetic --modes rules --runs 3
    nice .venv/bin/python benchmarks/turn.py --modes rules --baseline /tmp/base --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# ``--code DIR``: import the recagent code from DIR (a baseline checkout) instead of ROOT
CODE = Path(sys.argv[sys.argv.index("--code") + 1]) if "--code" in sys.argv[:-1] else ROOT
sys.path.insert(0, str(CODE))

CONVERSATIONS: list[list[str]] = [
    ["some comedies from the 90s, no horror", "something else", "not these either"],
    ["sci-fi movies after 2010", "now westerns older than 1980"],
    ["thrillers please", "only from the 80s", "and no horror"],
    ["something like the matirx", "more like the second one"],
    ["something like Heat but from the 80s, no comedy"],
    ["tell me about toy story", "what year is Jumanji from?"],
    ["popular action movies", "hidden gems instead"],
    ["highly rated dramas"],
    ["I loved Heat and I hated Titanic", "show me some dramas from the 90s"],
    ["hello there", "ok, animated films for kids"],
    ["a mystery or a western from the 60s"],
    ["anything but horror or comedy, popular ones"],
    ["a romcom from the early 2000s", "more please"],
    ["crime movies between 1985 and 1995"],
    ["5 thrillers from the 2000s"],
    ["something like Toy Story and Finding Nemo"],
    ["I hate horror movies", "something from the 70s"],
    ["war movies", "I loved the first one"],
    ["fantasy from the eighties"],
    ["time travel movies", "only popular ones"],
]


# broad requests on the synthetic catalog (its categories are MovieLens's genre names): each
# first request matches ~100k of the 1M items, the follow-ups narrow or re-rank that set
BROAD_CONVERSATIONS: list[list[str]] = [
    ["comedies", "more popular ones"],
    ["dramas please", "something older"],
    ["action movies", "only highly rated ones"],
    ["thrillers", "from the 90s"],
    ["romance movies", "less violent"],
    ["adventure films, no horror"],
    ["some documentaries", "more like those"],
    ["crime movies", "something else"],
    ["sci-fi", "the popular ones"],
    ["a western", "more recent ones please"],
]


def _percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile as an observed value (the nearest rank); NaN if empty."""
    return float(np.percentile(values, q, method="nearest")) if values else float("nan")


def _synthetic(scale: float) -> tuple[str, Path]:
    """The synthetic catalog of benchmarks/tools.py and an artifact folder serving its ALS
    model and text index (links, made once)."""
    n_items = int(1_000_000 * scale)
    cache = ROOT / ".bench-cache"
    db, models = cache / f"synth{n_items}.db", cache / f"synth{n_items}-models"
    if not db.exists() or not (models / "als").exists() or not (models / "text").exists():
        raise SystemExit(f"no synthetic catalog of {n_items} items in {cache}: run "
                         f"benchmarks/tools.py --dataset synthetic --scale {scale:g} first")
    art = cache / f"synth{n_items}-artifact"
    name = "20000101T000000000000Z-00000000"
    if not (art / name / "COMPLETE").exists():
        (art / name).mkdir(parents=True, exist_ok=True)
        for part in ("als", "text"):
            link = art / name / part
            if not link.exists():
                link.symlink_to(models / part)
        (art / name / "meta.json").write_text(json.dumps({"models": ["als"]}) + "\n")
        (art / name / "COMPLETE").write_text("")
    return f"sqlite:///{db}", art


def _prepare(args: argparse.Namespace) -> tuple[str, Path]:
    if args.database_url and args.model_dir:
        return args.database_url, Path(args.model_dir)
    if args.dataset == "synthetic":
        return _synthetic(args.scale)
    from tools.catalog.db import ensure_schema, make_engine
    from tools.catalog.ingest import ingest_movielens
    from tools.recommenders.training import train

    work = Path(tempfile.mkdtemp(prefix="recagent-bench-turn-"))
    url = f"sqlite:///{work / 'ml.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    ingest_movielens(engine, Path(__file__).resolve().parents[1] / "recagent/data/ml-latest-small")
    train(engine, work / "models", seed=42, evaluate=False)
    engine.dispose()
    return url, work / "models"


def _stub_responder(vocabulary: Any) -> Any:
    from langchain_core.messages import HumanMessage, SystemMessage

    from agent.rules import RulesPlanner
    from tests.openai_stub import StubReply

    planner = RulesPlanner(vocabulary=vocabulary)

    def answer(body: dict[str, Any]) -> StubReply:
        if not body.get("tools"):
            return StubReply(content="Here are a few picks I think you will enjoy.")
        msgs: list[Any] = []
        for m in body["messages"]:
            if m["role"] == "system":
                msgs.append(SystemMessage(m["content"]))
            elif m["role"] == "user" and not str(m.get("name", "")).startswith("example"):
                msgs.append(HumanMessage(m["content"]))  # demonstrations are not the chat
        names = {t["function"]["name"] for t in body["tools"]}
        plan = planner.plan(msgs, names)
        return StubReply(content=str(plan.content),
                         tool_calls=[(c["name"], c["args"]) for c in plan.tool_calls])

    return answer


async def _run(mode: str, url: str, model_dir: Path, runs: int,
               conversations: list[list[str]]) -> dict[str, Any]:
    from recagent.runtime import build_runtime
    from recagent.settings import load_settings
    from tests.openai_stub import OpenAIStub

    stub = None
    overrides: dict[str, Any] = {"database_url": url, "model_dir": model_dir, "plugins": ""}
    if mode == "stub":
        stub = OpenAIStub()
        stub.start()
        overrides |= {"llm": "openai:stub", "llm_base_url": stub.base_url,
                      "openai_api_key": "sk-bench"}
    settings = load_settings(**overrides)
    runtime = await build_runtime(settings)
    if stub is not None:
        stub.default = _stub_responder(runtime.agent._vocabulary)
    excl: list[float] = []
    total: list[float] = []
    calls: list[int] = []
    calls_no_reflection: list[int] = []
    prompt_tokens: list[int] = []
    fallbacks = 0
    try:
        # warm-up: one conversation, not measured
        sid = None
        for message in conversations[0]:
            sid = (await runtime.agent.turn(message, session_id=sid)).session_id
        for _ in range(runs):
            for conversation in conversations:
                sid = None
                for message in conversation:
                    start = time.perf_counter()
                    result = await runtime.agent.turn(message, session_id=sid)
                    wall = (time.perf_counter() - start) * 1e3
                    sid = result.session_id
                    trace = result.trace
                    llm_ms = trace["llm"]["ms"]
                    total.append(wall)
                    excl.append(wall - llm_ms)
                    n = trace["llm"]["calls"]
                    calls.append(n)
                    if len(trace["attempts"]) == 1:
                        calls_no_reflection.append(n)
                    prompt_tokens.extend(trace["prompt_tokens"])
                    fallbacks += len(trace["fallbacks"])
    finally:
        await runtime.aclose()
        if stub is not None:
            stub.close()
    return {
        "mode": mode, "turns": len(excl),
        "p50": statistics.median(excl), "p99": _percentile(excl, 99),
        "wall_p50": statistics.median(total),
        "calls": statistics.mean(calls), "calls_max_no_refl": max(calls_no_reflection),
        "tokens_mean": statistics.mean(prompt_tokens), "tokens_max": max(prompt_tokens),
        "fallbacks": fallbacks,
    }


def _table(rows: list[dict[str, Any]], label: str = "") -> list[str]:
    out = []
    for r in rows:
        out.append(f"| {r['mode']}{label} | {r['turns']:.0f} | {r['p50']:.1f} | "
                   f"{r['p99']:.1f} | {r['wall_p50']:.1f} | {r['calls']:.2f} | "
                   f"{r['calls_max_no_refl']:.0f} | {r['tokens_mean']:.0f} / "
                   f"{r['tokens_max']:.0f} | {r['fallbacks']:.0f} |")
    return out


HEADER = ["| planner | turns | p50 ms excl. LLM | p99 ms excl. LLM | wall p50 ms | LLM calls/turn "
          "(mean) | max LLM calls, no reflection | prompt tokens mean / max | fallbacks |",
          "|---|---|---|---|---|---|---|---|---|"]


def _compare(args: argparse.Namespace, argv: list[str]) -> int:
    """This script on the baseline's code and on this tree's, ``--rounds`` times,
    alternating; medians over the rounds."""
    base = args.baseline.resolve()
    if not (base / "agent" / "service.py").exists():
        raise SystemExit(f"--baseline {base}: not a recagent checkout")
    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--baseline", "--rounds", "--json", "--code"):
            skip = True
        elif not a.startswith(("--baseline=", "--rounds=", "--json=", "--code=")):
            rest.append(a)
    if args.dataset == "ml" and not (args.database_url and args.model_dir):
        url, model_dir = _prepare(args)  # once, for both
        rest += ["--database-url", url, "--model-dir", str(model_dir)]
    got: dict[str, list[list[dict[str, Any]]]] = {"base": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = [("base", base), ("new", ROOT)]
            for name, code in (order if r % 2 == 0 else order[::-1]):
                out = Path(tmp) / f"{name}-{r}.json"
                print(f"round {r + 1}/{args.rounds}: {name} ({code})", file=sys.stderr,
                      flush=True)
                subprocess.run([sys.executable, str(Path(__file__).resolve()), *rest,
                                "--code", str(code), "--json", str(out)], check=True,
                               stdout=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONPATH": str(code)})
                got[name].append(json.loads(out.read_text()))
    keys = ("turns", "p50", "p99", "wall_p50", "calls", "calls_max_no_refl", "tokens_mean",
            "tokens_max", "fallbacks")
    merged: dict[str, list[dict[str, Any]]] = {}
    for name, rounds in got.items():
        merged[name] = [
            {"mode": row["mode"], **{k: statistics.median(rd[i][k] for rd in rounds)
                                     for k in keys}}
            for i, row in enumerate(rounds[0])]
    print(f"dataset={args.dataset}; medians over {args.rounds} rounds of {args.runs} runs")
    print("\n".join(HEADER))
    lines = _table(merged["base"], " [base]") + _table(merged["new"], " [new]")
    for b, n in zip(merged["base"], merged["new"], strict=True):
        lines.append(f"| {n['mode']} [new / base] | | x{n['p50'] / b['p50']:.2f} | "
                     f"x{n['p99'] / b['p99']:.2f} | x{n['wall_p50'] / b['wall_p50']:.2f} "
                     "| | | | |")
    print("\n".join(lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url")
    parser.add_argument("--model-dir")
    parser.add_argument("--modes", default="rules,stub")
    parser.add_argument("--dataset", choices=["ml", "synthetic"], default="ml",
                        help="synthetic: broad requests on the 1M-item catalog of tools.py")
    parser.add_argument("--scale", type=float, default=1.0, help="synthetic: 1 = 1M items")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="import recagent from this checkout (set by --baseline)")
    parser.add_argument("--baseline", type=Path,
                        help="another checkout: measure its code too, alternating processes")
    parser.add_argument("--rounds", type=int, default=3, help="with --baseline")
    args = parser.parse_args(argv)
    if args.baseline is not None:
        return _compare(args, argv if argv is not None else sys.argv[1:])
    from agent.tokens import token_method

    url, model_dir = _prepare(args)
    conversations = BROAD_CONVERSATIONS if args.dataset == "synthetic" else CONVERSATIONS
    rows = [asyncio.run(_run(mode, url, model_dir, args.runs, conversations))
            for mode in args.modes.split(",")]
    print(f"token count: {token_method()}; {args.runs} runs x {len(conversations)} "
          "conversations")
    print("\n".join(HEADER + _table(rows)))
    if args.json:
        args.json.write_text(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
