"""The CF models by name: what ``recagent train``, the evaluation and the artifact loader share.

A leaf below :mod:`tools.recommenders.training`, :mod:`~tools.recommenders.evaluation` and
:mod:`~tools.recommenders.artifacts`, so none of them imports another to find a model class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tools.recommenders.als import ALSRecommender
from tools.recommenders.bpr import BPRRecommender
from tools.recommenders.common import MatrixRecommender
from tools.recommenders.itemknn import ItemKNNRecommender
from tools.recommenders.popularity import PopularityRecommender

registry: dict[str, type[MatrixRecommender]] = {
    cls.name: cls
    for cls in (ALSRecommender, BPRRecommender, ItemKNNRecommender, PopularityRecommender)
}
DEFAULT_MODELS = ("als", "bpr", "itemknn", "popularity")


def make_model(name: str, *, seed: int = 42, **params: Any) -> MatrixRecommender:
    """A fresh model by registry name; ``seed`` fills ``random_state`` unless given."""
    try:
        cls = registry[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; known: {', '.join(sorted(registry))}"
        ) from None
    if "random_state" in cls.defaults:
        params.setdefault("random_state", seed)
    return cls(**params)


def check_model_names(models: Sequence[str]) -> list[str]:
    """The names, stripped and de-duplicated (first-seen order); ``ValueError`` names the
    unknown ones, or says that none was selected."""
    names = [m.strip() for m in models if m.strip()]
    unknown = [m for m in names if m not in registry]
    if unknown:
        raise ValueError(
            f"unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(registry))}"
        )
    if not names:
        raise ValueError("no model selected")
    return list(dict.fromkeys(names))
