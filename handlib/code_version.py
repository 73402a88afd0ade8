"""Which code produced a run: a hash of the source of every handlib module behind it.

A finished run is reused only when both its configuration and the code that turned that
configuration into numbers are unchanged (``handlib.engine.load_or_train``): change a model's
default width, a loss, a codec or the data pipeline and the runs built with it are trained again
instead of being silently reused.

:func:`code_hash` takes the modules a run names (its model's module, its loss's module, its
codecs' modules, the data pipeline and the training loop) and follows their ``import``
statements through handlib (any ``import handlib.x`` or ``from handlib.x import y``, wherever it
stands in the module), then hashes each module's syntax tree with its docstrings removed, so
that editing a comment or a docstring does not invalidate results while any change to code does.

Modules that cannot change a run's numbers are not followed (:data:`NOT_FOLLOWED`): where results
are written, the paths, the command line, plotting, reporting and benchmarking, the claims
transcriptions, and the real-dataset loaders (a run that reads a real dataset adds its loader
explicitly, see ``handlib.engine.code_modules``).
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

#: Module prefixes whose imports are not followed (they do not change a run's numbers).
NOT_FOLLOWED: tuple[str, ...] = (
    "handlib.results", "handlib.paths", "handlib.cli", "handlib.viz", "handlib.report",
    "handlib.bench", "handlib.study", "handlib.data.formats", "handlib.code_version",
)


def _followed(name: str) -> bool:
    return name.startswith("handlib") and not any(
        name == prefix or name.startswith(prefix + ".") for prefix in NOT_FOLLOWED
    )


@lru_cache(maxsize=None)
def _source_file(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):  # e.g. "pkg.module.Class": a name, not a module
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """The handlib modules ``module`` imports (``from pkg import name`` counts ``pkg.name``
    when that is a module, else ``pkg``)."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names
                         if _source_file(f"{base}.{alias.name}") is not None)
    return {name for name in found if _followed(name)}


@lru_cache(maxsize=None)
def _module_digest(module: str) -> tuple[str, frozenset[str]]:
    """(hash of the module's code without docstrings, the handlib modules it imports)."""
    path = _source_file(module)
    if path is None:
        raise ValueError(f"cannot find the source of module {module!r}")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imports = _imports(tree, module, path.name == "__init__.py")
    digest = hashlib.sha256(ast.dump(_without_docstrings(tree)).encode()).hexdigest()
    return digest, frozenset(imports)


def closure(modules: list[str] | tuple[str, ...]) -> list[str]:
    """``modules`` and every handlib module they import, transitively (see the module doc)."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_module_digest(name)[1] - seen)
    return sorted(seen)


def code_hash(modules: list[str] | tuple[str, ...]) -> str:
    """SHA-256 (hex) over the code of ``modules`` and everything they import in handlib."""
    text = "\n".join(f"{name} {_module_digest(name)[0]}" for name in closure(modules))
    return hashlib.sha256(text.encode()).hexdigest()
