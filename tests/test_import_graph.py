"""The import graph of txpipe: no cycle at module level, and a session core that imports no step."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "txpipe"
CORE_MAY_IMPORT = ("txpipe.core", "txpipe.errors", "txpipe.version", "txpipe.log")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PKG.rglob("*.py")}


def _function_level(tree: ast.Module) -> list[ast.stmt]:
    """Import statements inside functions (run on call, not on import)."""
    return [s for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
            for s in ast.walk(f) if isinstance(s, (ast.Import, ast.ImportFrom))]


def imports_of(name: str, *, only_functions: bool = False) -> set[str]:
    """txpipe modules *name* imports explicitly, anywhere in the file (parent packages not
    implied); with *only_functions*, those imported inside functions."""
    tree = ast.parse(MODULES[name].read_text())
    is_pkg = MODULES[name].name == "__init__.py"
    out: set[str] = set()
    nodes = _function_level(tree) if only_functions else [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name if is_pkg else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    pkg = pkg.rpartition(".")[0]
                base = f"{pkg}.{base}" if base else pkg
            for a in node.names:
                if f"{base}.{a.name}" in MODULES:
                    out.add(f"{base}.{a.name}")
                elif base in MODULES:
                    out.add(base)
    out.discard(name)
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of *graph* (a list of modules, first = last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


GRAPH = {n: imports_of(n) for n in MODULES}


DEFERRED_COMPILED = {"txpipe.kernels.eimage": {"txpipe.kernels._eimage_numba"}}
"""The one allowed deferred txpipe import: a module that exists only to import numba (a
third-party import deferred for import speed: numba costs about a second at import) and compile
the optional fast kernels. It imports nothing of txpipe, so it cannot hide a cycle (checked below)."""


class TestImportGraph:
    def test_no_cycle(self) -> None:
        """No module imports itself through others (imports inside functions count too; parent
        packages aside)."""
        assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH) or [])

    def test_no_function_level_imports_of_txpipe(self) -> None:
        """Every txpipe import is at module level (none deferred into a function to dodge a
        cycle); third-party imports may be deferred for import speed."""
        deferred = {n: sorted(set(imports_of(n, only_functions=True)) - DEFERRED_COMPILED.get(n, set())) for n in MODULES}
        assert not {n: m for n, m in deferred.items() if m}

    def test_deferred_compiled_modules_import_no_txpipe(self) -> None:
        for mods in DEFERRED_COMPILED.values():
            for m in mods:
                assert not [d for d in GRAPH.get(m, set()) if d.startswith("txpipe")], m

    def test_the_checker_finds_cycles(self) -> None:
        assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
        assert find_cycle({"a": {"b"}, "b": set()}) is None

    def test_core_imports_only_core(self) -> None:
        """txpipe.core.* imports only the core itself, errors, version and logging."""
        bad = {n: sorted(m for m in GRAPH[n] if not m.startswith(CORE_MAY_IMPORT))
               for n in GRAPH if n.startswith("txpipe.core")}
        assert not {n: m for n, m in bad.items() if m}

    def test_core_modules_import_without_steps(self) -> None:
        """Each core module, imported in a fresh interpreter with the txpipe package body skipped
        (``import txpipe`` itself registers the steps), loads no step, feature, runner or MCS module."""
        code = (
            "import importlib, sys, types\n"
            f"pkg = types.ModuleType('txpipe'); pkg.__path__ = [{str(PKG)!r}]; sys.modules['txpipe'] = pkg\n"
            "bad = {}\n"
            f"for name in {sorted(n for n in MODULES if n.startswith('txpipe.core'))!r}:\n"
            "    importlib.import_module(name)\n"
            "    hit = sorted(m for m in sys.modules if m.startswith(('txpipe.steps', 'txpipe.features', 'txpipe.runner', 'txpipe.mcs', 'txpipe.report')))\n"
            "    if hit: bad[name] = hit; break\n"
            "print(bad)\n"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "{}", r.stdout
