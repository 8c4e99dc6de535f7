"""The package's shape (issue 9): imports point one way, it stays small, and it stays portable.

These read the source, not the behaviour: an import cycle, an import tucked inside a
function to dodge one, a module grown past its budget, or an operating-system probe
creeping back would each go unnoticed by the behavioural tests until it hurt.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGE = "sincpro_async_worker"
PACKAGE_DIR = ROOT / PACKAGE

#: The per-module line budget of issue 9, counted as `wc -l` counts (newline characters).
FILE_LINES = 450


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def resolve(importer: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The package modules an import statement in module `importer` loads by name.

    `from .x import y` depends on the submodule `x.y` if there is one, else on `x`,
    where `y` is defined. (Python imports every parent package of a module first, so a
    dependency on a parent package's `__init__` is counted only where the import reads
    a name from it.) Modules outside the package are left out.
    """
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
        return [name for name in targets if name in MODULES]
    if node.level:
        base = importer if is_package(importer) else importer.rpartition(".")[0]
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        source = f"{base}.{node.module}" if node.module else base
    else:
        source = node.module or ""
    if source not in MODULES:
        return []
    submodules = [f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in MODULES]
    return submodules if len(submodules) == len(node.names) else [source, *submodules]


def parse(name: str) -> ast.Module:
    return ast.parse(MODULES[name].read_text(encoding="utf-8"), filename=str(MODULES[name]))


def module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: outside every function body.

    Statements under `if`/`try` at module level count (`if TYPE_CHECKING:` too: a
    cycle a type checker has to untangle is still a cycle for the reader).
    """
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    return {
        name: {
            target
            for node in module_level_imports(parse(name))
            for target in resolve(name, node)
            if target != name
        }
        for name in MODULES
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` as a path that ends where it starts, or None."""
    state: dict[str, str] = {}  # "open" while on the current path, then "done"
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = "open"
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle is not None:
                    return cycle
        path.pop()
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state:
            cycle = visit(name)
            if cycle is not None:
                return cycle
    return None


def test_the_package_is_what_these_tests_read() -> None:
    # Guards the tests below: an empty or misread package would pass all of them.
    assert f"{PACKAGE}.infrastructure.worker" in MODULES
    graph = import_graph()
    assert f"{PACKAGE}.infrastructure.event_loop" in graph[f"{PACKAGE}.infrastructure.worker"]
    assert f"{PACKAGE}.exceptions" in graph[f"{PACKAGE}.infrastructure.checks"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_inside_the_package() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_module_of_the_package_is_imported_inside_a_function() -> None:
    # An import inside a function is how a cycle gets dodged rather than removed.
    offenders = []
    for name in MODULES:
        tree = parse(name)
        top = {id(node) for node in module_level_imports(tree)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
                if resolve(name, node) or (isinstance(node, ast.ImportFrom) and node.level):
                    offenders.append(f"{MODULES[name].relative_to(ROOT)}:{node.lineno}")
            elif (
                isinstance(node, ast.Call)
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and node.args[0].value.lstrip(".").startswith(PACKAGE.split(".")[0])
                and ast.unparse(node.func) in {"importlib.import_module", "__import__"}
            ):
                offenders.append(f"{MODULES[name].relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], "package modules imported inside a function: " + ", ".join(offenders)


def line_counts() -> dict[str, int]:
    return {
        str(path.relative_to(ROOT)): path.read_bytes().count(b"\n") for path in MODULES.values()
    }


def test_no_module_of_the_package_is_over_its_line_budget() -> None:
    over = {path: n for path, n in line_counts().items() if n > FILE_LINES}
    assert over == {}, f"over {FILE_LINES} lines: {over}"


# What the old blocked-loop watchdog needed and the new design must not: an operating-system
# probe, a process-wide hook, a thread hidden from `threading`, a walk of every thread's stack.
FORBIDDEN = {
    "/proc": re.compile(r"/proc\b"),
    "gc.callbacks": re.compile(r"\bgc\s*\.\s*callbacks\b|from\s+gc\s+import[^\n]*\bcallbacks\b"),
    # The module, not an attribute such as `self._thread`: preceded by neither a name
    # character nor a dot. Its aliases in `threading` count too.
    "_thread": re.compile(r"(?<![\w.])_thread\b|\b_start_(?:new|joinable)_thread\b"),
    "sys._current_frames": re.compile(r"\b_current_frames\b"),
}


@pytest.mark.parametrize("what", sorted(FORBIDDEN))
def test_the_package_uses_no_os_probe_hook_or_hidden_thread(what: str) -> None:
    pattern = FORBIDDEN[what]
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in MODULES.values()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == [], f"{what} in the package:\n" + "\n".join(hits)


@pytest.mark.parametrize(
    ("what", "line"),
    [
        ("/proc", 'open("/proc/self/task")'),
        ("gc.callbacks", "gc.callbacks.append(hook)"),
        ("_thread", "import _thread"),
        ("_thread", "_thread.start_new_thread(run, ())"),
        ("_thread", "threading._start_new_thread(run, ())"),
        ("sys._current_frames", "frames = sys._current_frames()"),
    ],
)
def test_each_forbidden_pattern_matches_what_it_forbids(what: str, line: str) -> None:
    assert FORBIDDEN[what].search(line)


@pytest.mark.parametrize("line", ["self._thread.join()", "refuse_loop_thread()", "gc.collect()"])
def test_the_forbidden_patterns_leave_ordinary_names_alone(line: str) -> None:
    assert not any(pattern.search(line) for pattern in FORBIDDEN.values())
