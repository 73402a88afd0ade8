"""handlib's modules import in layers: no import cycle, counting imports inside functions too,
and an import inside a function only with its reason beside it (a heavy or optional dependency
that a plain top-level import would force on every user of the module)."""
from __future__ import annotations

import ast
from pathlib import Path

HANDLIB = Path(__file__).resolve().parents[1] / "handlib"


def module_name(path: Path) -> str:
    parts = path.relative_to(HANDLIB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def handlib_imports(path: Path, modules: set[str]) -> set[str]:
    """The handlib modules ``path`` imports anywhere in it (``from pkg import name`` counts
    ``pkg.name`` when that is a module, else ``pkg``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                         for alias in node.names)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(HANDLIB.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): handlib_imports(p, modules) for p in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_handlib_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_every_import_inside_a_function_says_why():
    unexplained = []
    for path in sorted(HANDLIB.rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if (isinstance(inner, (ast.Import, ast.ImportFrom))
                            and "#" not in lines[inner.end_lineno - 1]):
                        unexplained.append(f"{path.relative_to(HANDLIB.parent)}:{inner.lineno}")
    assert not unexplained, ("imports inside functions without a reason (a comment on the "
                             f"line): {unexplained}; import at the top of the module instead")


#: A module longer than this says in its docstring why it is one module (a paragraph starting
#: "Length:"), or is split by concern.
LONG_MODULE_LINES = 500


def test_a_long_module_says_why_it_is_one():
    unexplained = []
    for path in sorted(HANDLIB.rglob("*.py")):
        text = path.read_text()
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if len(text.splitlines()) > LONG_MODULE_LINES and "\nLength:" not in f"\n{docstring}":
            unexplained.append(f"{path.relative_to(HANDLIB.parent)} "
                               f"({len(text.splitlines())} lines)")
    assert not unexplained, (f"modules over {LONG_MODULE_LINES} lines without a 'Length:' "
                             f"paragraph in their docstring: {unexplained}")
