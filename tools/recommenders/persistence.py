"""A model folder on disk: ``arrays.npz`` (numpy arrays, never pickle) and ``params.json``
(format version, model name, parameters)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

ARRAYS_FILE = "arrays.npz"
PARAMS_FILE = "params.json"
FORMAT_VERSION = 1


def write_model(directory: Path, name: str, params: dict[str, Any],
                arrays: dict[str, Any]) -> None:
    """Write ``arrays`` and the parameters into ``directory`` (which exists); an object
    array is refused (it would need pickle)."""
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"{key}: object arrays would need pickle")
    np.savez(directory / ARRAYS_FILE, **arrays)
    meta = {"format": FORMAT_VERSION, "name": name, "params": params}
    (directory / PARAMS_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def read_params(directory: Path, name: str) -> dict[str, Any]:
    """The parameters of the model ``name`` saved in ``directory``; ``ValueError`` for
    another model's folder or an unknown format."""
    directory = Path(directory)
    meta = json.loads((directory / PARAMS_FILE).read_text())
    if meta.get("name") != name:
        raise ValueError(f"{directory}: holds a {meta.get('name')!r} model, not {name!r}")
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{directory}: unsupported format {meta.get('format')!r}")
    params: dict[str, Any] = meta["params"]
    return params


def read_arrays(directory: Path) -> dict[str, np.ndarray]:
    """The arrays saved in ``directory`` (pickle refused)."""
    with np.load(Path(directory) / ARRAYS_FILE, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}
