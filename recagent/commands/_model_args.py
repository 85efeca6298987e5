"""The model-selection options ``recagent train`` and ``recagent evaluate`` share."""

from __future__ import annotations

import argparse

from recagent.commands.errors import CliError
from recagent.settings import Settings


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", default=None,
                   help="comma-separated model names (default: als,bpr,itemknn,popularity)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: RECAGENT_SEED)")
    p.add_argument("--min-rating", type=float, default=None,
                   help="ignore rated interactions below this rating")


def models_and_seed(args: argparse.Namespace, settings: Settings) -> tuple[list[str], int]:
    """The chosen model names (checked; a bad one is a CLI error) and the seed."""
    from tools.recommenders.training import (  # deferred: start-up time (--help)
        DEFAULT_MODELS,
        check_model_names,
    )

    models = list(DEFAULT_MODELS)
    if args.models:
        try:
            models = check_model_names(args.models.split(","))
        except ValueError as exc:
            raise CliError(f"--models: {exc}") from None
    return models, settings.seed if args.seed is None else args.seed
