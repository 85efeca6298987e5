"""The house rules of the import graph (issue 15): no import cycles, and an import written
inside a function says why on its line, in one form (``scripts/import_graph.py``)::

    from pyspark.sql import SparkSession  # deferred: optional dependency (pyspark)

Everything else is imported at module top, where a reader (and a cycle check) sees it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "import_graph.py"


@pytest.fixture(scope="module")
def import_graph() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scripts_import_graph", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_every_import_inside_a_function_says_why(import_graph: ModuleType) -> None:
    files = import_graph.source_files()
    assert {p.parts[-2] for p in files if p.name == "__init__.py"} >= {
        "agent", "tools", "memory", "api", "recagent"}
    missing = [str(f) for f in import_graph.undocumented(files)]
    assert missing == [], (
        "imports inside functions without a '# deferred: <reason> (<what>)' comment "
        f"(reasons: {', '.join(import_graph.DEFERRED_REASONS)}); move them to module top "
        "or say why:\n" + "\n".join(missing))


def test_the_reason_has_one_form(import_graph: ModuleType, tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text(
        "import json\n"
        "def a():\n    import pyspark  # deferred: optional dependency (pyspark)\n"
        "def b():\n    from agent import rules  # deferred: import cycle (agent.llm <- x)\n"
        "def c():\n    from tools.recommenders.common import (\n"
        "        pin_blas_threads,  # deferred: start-up time (--help)\n    )\n"
        "def d():\n    import re  # deferred\n"
        "def e():\n    import os  # deferred: because (it is faster)\n"
        "def f():\n    from memory import session\n",
        encoding="utf-8")
    found = import_graph.function_imports(source)
    assert [(f.line, f.own, f.reason is None) for f in found] == [
        (3, False, False), (5, True, False), (7, True, False),
        (11, False, True), (13, False, True), (15, True, True)]


def test_no_import_cycles(import_graph: ModuleType) -> None:
    for exclude_type_checking in (False, True):
        graph = import_graph.project_graph(exclude_type_checking)
        assert len(graph.modules) > 100
        groups = import_graph.strongly_connected(graph.modules, import_graph.module_edges(graph))
        assert groups == [], f"modules importing each other: {groups}"
    assert import_graph.sibling_cycles(import_graph.project_graph()) == []
