"""The import graph of the project's packages, summarized (issue 15: one-way layers).

    .venv/bin/python scripts/import_graph.py [--all-cycles] [--check]

Prints, from grimp's graph (import-linter's engine) of ``recagent``, ``api``, ``agent``,
``tools`` and ``memory``:

- the layers (the ``recagent`` facade/CLI > ``api`` | the simulator > the wiring > ``agent`` >
  ``tools`` > ``memory`` > ``recagent.settings``) and every import against them, per pair;
- the import cycles: strongly connected groups of modules (a group of n modules importing
  each other round counts once), with and without imports under ``if TYPE_CHECKING:``;
- the imports written inside functions (not at module top), per file, and those of them
  that do not say why on their line (see :data:`DEFERRED`);
- the ten largest modules with their line counts.

``--check`` exits with 1 when there is a cycle or an undocumented deferred import
(``tests/test_house.py`` checks the same).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]  # --root: another checkout (e.g. an old commit)
PACKAGES = ("recagent", "api", "agent", "tools", "memory")
# top to bottom, as the layers contract in pyproject.toml; a module may import its own layer
# and the ones below it. ``recagent`` alone is the facade package's ``__init__`` (and the CLI).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("recagent",),
    ("api", "recagent.simulation"),
    ("recagent.runtime", "recagent.demo"),
    ("agent",),
    ("tools",),
    ("memory",),
    ("recagent.settings",),
)
# An import inside a function (not at module top) says why on its line, in one form:
#   ``# deferred: optional dependency (pyspark)``: a package the project does not require;
#   ``# deferred: import cycle (a <- b)``: at module top it would close a cycle;
#   ``# deferred: start-up time (--help)``: a heavy import the common path does not need;
#   ``# deferred: spark executors (they lack sqlalchemy)``: in a module the executors import
#   (they run it with numpy and scipy only).
DEFERRED_REASONS = ("optional dependency", "import cycle", "start-up time", "spark executors")
DEFERRED = re.compile(r"# deferred: (?:" + "|".join(DEFERRED_REASONS) + r") \([^()]+\)")


def layer_of(module: str) -> int:
    """The index in LAYERS of the most specific prefix of ``module``."""
    best, level = "", 0
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > len(best):
                best, level = name, i
    return level


def strongly_connected(nodes: Iterable[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; groups of more than one module (the cycles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(nodes):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(edges.get(start, ())))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            if children:
                child = children.pop()
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(edges.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def sibling_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Cycles between the children of one package, each child counted with everything
    under it (what import-linter's ``acyclic_siblings`` contract checks)."""
    out: list[list[str]] = []
    parents = sorted(m for m in graph.modules if graph.find_children(m))
    for parent in parents:
        children = sorted(graph.find_children(parent))
        edges = {a: {b for b in children if b != a and graph.direct_import_exists(
            importer=a, imported=b, as_packages=True)} for a in children}
        out += strongly_connected(children, edges)
    return sorted(out)


def module_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def module_path(module: str) -> Path:
    base = ROOT / Path(*module.split("."))
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _is_project(node: ast.Import | ast.ImportFrom) -> bool:
    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    return (isinstance(node, ast.ImportFrom) and node.level > 0) or any(
        n.split(".")[0] in PACKAGES for n in names)


@dataclass(frozen=True)
class FunctionImport:
    """An import statement inside a function body."""

    path: Path
    line: int
    text: str  # its first line
    own: bool  # of the project's own modules
    reason: str | None  # its ``# deferred: ...`` comment (None: missing or not in the form)

    def __str__(self) -> str:
        where = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{where}:{self.line}: {self.text}"


def function_imports(path: Path) -> list[FunctionImport]:
    """Import statements inside a function body (``if TYPE_CHECKING:`` blocks excluded),
    each with the reason written on one of its lines (a long import wrapped in parentheses
    carries the comment on any of them)."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found: list[FunctionImport] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom) and in_function:
                text = "\n".join(lines[child.lineno - 1:child.end_lineno or child.lineno])
                match = DEFERRED.search(text)
                found.append(FunctionImport(path, child.lineno, lines[child.lineno - 1].strip(),
                                            _is_project(child),
                                            match.group(0) if match else None))
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef
                                              | ast.Lambda)
            visit(child, inner)

    visit(ast.parse(source), False)
    return found


def source_files() -> list[Path]:
    """Every Python file of the packages (also those grimp does not see as modules)."""
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def undocumented(paths: Iterable[Path]) -> list[FunctionImport]:
    """The imports inside functions that do not say why (see :data:`DEFERRED`)."""
    return [f for path in paths for f in function_imports(path) if f.reason is None]


def project_graph(exclude_type_checking_imports: bool = False) -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None,
                             exclude_type_checking_imports=exclude_type_checking_imports)


def report_function_imports() -> int:
    """Prints the imports inside functions; returns how many do not say why."""
    per_file = {path: function_imports(path) for path in source_files()}
    hidden = {p: found for p, found in per_file.items() if found}
    own = {p: n for p, n in ((p, sum(f.own for f in found)) for p, found in hidden.items()) if n}
    print(f"\nimports inside functions: {sum(map(len, hidden.values()))} in "
          f"{len(hidden)} files; of the project's own modules: {sum(own.values())} in "
          f"{len(own)} files")
    for path, found in sorted(hidden.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:10]:
        print(f"  {len(found):3d} ({own.get(path, 0)} own)  {path.relative_to(ROOT)}")
    missing = [f for found in hidden.values() for f in found if f.reason is None]
    print(f"without a '# deferred: <{' | '.join(DEFERRED_REASONS)}> (...)' reason: "
          f"{len(missing)}")
    for f in missing:
        print(f"  {f}")
    return len(missing)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all-cycles", action="store_true", help="list every cycle group")
    parser.add_argument("--check", action="store_true",
                        help="exit with 1 on a cycle or an undocumented deferred import")
    parser.add_argument("--root", type=Path, default=None,
                        help="the checkout to read (default: this one)")
    args = parser.parse_args(argv)
    global ROOT
    if args.root is not None:
        ROOT = args.root.resolve()
    sys.path.insert(0, str(ROOT))

    graph = project_graph()
    runtime_graph = project_graph(exclude_type_checking_imports=True)
    edges = module_edges(graph)
    modules = sorted(graph.modules)

    print(f"modules: {len(modules)}; direct imports between them: "
          f"{sum(len(v) for v in edges.values())}")
    print("\nlayers (top to bottom): " + " > ".join(" | ".join(names) for names in LAYERS))
    upward: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], list[str]] = {}
    for importer in modules:
        for imported in sorted(edges[importer]):
            a, b = layer_of(importer), layer_of(imported)
            if b < a:
                pair = (" | ".join(LAYERS[a]), " | ".join(LAYERS[b]))
                upward[pair] += 1
                examples.setdefault(pair, []).append(f"{importer} -> {imported}")
    print(f"imports against the layers: {sum(upward.values())}")
    for (upper, lower), n in sorted(upward.items()):
        print(f"  {upper} -> {lower}: {n}  (e.g. {', '.join(examples[(upper, lower)][:3])})")

    for label, g in (("all imports", graph), ("runtime imports (no TYPE_CHECKING)",
                                              runtime_graph)):
        groups = strongly_connected(g.modules, module_edges(g))
        print(f"\ncycles ({label}): {len(groups)} group(s) of modules importing each other")
        for group in groups if args.all_cycles else groups[:8]:
            shown = ", ".join(group[:6]) + (f", ... ({len(group)} modules)"
                                             if len(group) > 6 else "")
            print(f"  {shown}")

    groups = sibling_cycles(graph)
    print(f"\ncycles between sibling packages/modules (with all under them): {len(groups)}")
    for group in groups:
        print(f"  {', '.join(group)}")
    cycles = len(groups) + len(strongly_connected(graph.modules, edges))

    missing = report_function_imports()

    sizes = sorted(((sum(1 for _ in module_path(m).open(encoding="utf-8")), m)
                    for m in modules), reverse=True)
    print("\nten largest modules (lines):")
    for lines, m in sizes[:10]:
        print(f"  {lines:5d}  {module_path(m).relative_to(ROOT)}")
    over = [m for lines, m in sizes if lines > 500]
    print(f"modules over 500 lines: {len(over)}")
    return 1 if args.check and (cycles or missing) else 0


if __name__ == "__main__":
    sys.exit(main())
