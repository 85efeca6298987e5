"""``recagent train-acts``: rebuild the dialogue-act model from annotated dialogues."""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

from recagent.commands.errors import CliError


def _bundled_dialogues() -> Path:
    return Path(str(resources.files("recagent.data") / "iard-partial" / "dialogues.json"))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train-acts",
        help="train the dialogue-act model (new versioned artifact) from annotated dialogues",
    )
    p.add_argument("--dialogues", type=Path, default=None,
                   help="IARD-format JSON (default: the bundled IARD subset)")
    p.add_argument("--out", type=Path, default=None,
                   help="artifact root (default: the package's agent/understanding/models)")
    p.add_argument("--nouns", default=None,
                   help="the data's item nouns, masked like a catalog's (comma list; default: "
                        "item_nouns of a dataset.json beside the dialogues)")
    p.add_argument("--heldout", type=float, default=0.2,
                   help="share of conversations held back for the reported metrics")
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=_train_acts)


def _train_acts(args: argparse.Namespace) -> int:
    from agent.understanding.acts import bundled_dir  # deferred: start-up time (--help)
    from agent.understanding.acts_training import (  # deferred: start-up time (--help)
        TrainingDataError,
        train,
    )

    if not 0.0 < args.heldout < 1.0:
        raise CliError("--heldout must be between 0 and 1")
    data = args.dialogues or _bundled_dialogues()
    if args.nouns is not None:
        nouns = [n.strip() for n in args.nouns.split(",") if n.strip()]
    else:
        meta = data.parent / "dataset.json"
        try:
            nouns = list(json.loads(meta.read_text(encoding="utf-8")).get("item_nouns") or [])
        except (OSError, ValueError):
            nouns = []
    try:
        path, meta = train(data, args.out or bundled_dir(), nouns=nouns, heldout=args.heldout,
                           seed=args.seed)
    except TrainingDataError as exc:
        raise CliError(str(exc)) from None
    print(f"wrote {path}")
    print(json.dumps({"heldout": meta["heldout"], "train": meta["train"]}, indent=1))
    return 0
