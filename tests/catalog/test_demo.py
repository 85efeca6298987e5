"""prepare_demo: the first run migrates, imports and trains; the second is a no-op."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from recagent.demo import prepare_demo, state_path
from recagent.settings import load_settings

training = pytest.importorskip("tools.recommenders.training")


@pytest.mark.slow
def test_prepare_demo_then_no_op(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_train: Callable[..., Path] = training.train
    calls: list[int] = []

    def quick_train(engine: Any, model_dir: Path, **kwargs: Any) -> Path:
        # the real trainer and artifact writer, with the cheapest model and no evaluation
        calls.append(kwargs["seed"])
        return real_train(engine, model_dir, **{**kwargs, "models": ["popularity"],
                                                "evaluate": False})

    monkeypatch.setattr(training, "train", quick_train)
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}",
                             model_dir=tmp_path / "models")
    first = prepare_demo(settings, progress=False)
    assert first["status"] == "prepared"
    assert first["steps"] == ["ingest", "train"]
    assert (first["items"], first["interactions"]) == (9742, 100836)
    assert Path(first["artifact"]).is_dir()
    assert state_path(settings).is_file()

    second = prepare_demo(settings, progress=False)
    assert second["status"] == "already prepared" and second["steps"] == []
    assert calls == [settings.seed]  # nothing trained (or imported) again
    assert second["artifact"] == first["artifact"]

    # a lost model folder is trained again, without importing again
    for path in sorted(Path(first["artifact"]).rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    Path(first["artifact"]).rmdir()
    third = prepare_demo(settings, progress=False)
    assert third["steps"] == ["train"]
    assert calls == [settings.seed, settings.seed]
