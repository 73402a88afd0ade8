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

The tree is written in a canonical form (:func:`canonical`), not with ``ast.dump``, whose text
differs between Python versions (3.12 adds ``type_params=[]`` to every function, 3.13 leaves out
empty fields): a run made on one interpreter is then recognised as current on another. Module
files are found under the ``handlib`` folder this module lives in, importing nothing (finding a
module through ``importlib`` imports its parent packages, and with them torch), so the hash can
be computed by a bare interpreter that has only the standard library.

Modules that cannot change a run's numbers are not followed (:data:`NOT_FOLLOWED`): where results
are written, the paths, the command line, plotting, reporting and benchmarking, the claims
transcriptions, and the real-dataset loaders (a run that reads a real dataset adds its loader
explicitly, see ``handlib.engine.code_modules``).
"""
from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

#: The folder that holds the ``handlib`` package: module ``handlib.x.y`` is ``x/y.py`` (or
#: ``x/y/__init__.py``) in the package's folder below it.
ROOT = Path(__file__).resolve().parent.parent

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
    """The file of module ``module`` under :data:`ROOT` (a package's ``__init__.py``); None for
    a name that is not a module there (e.g. ``"handlib.x.Class"``, a name inside a module)."""
    base = ROOT.joinpath(*module.split("."))
    for path in (base / "__init__.py", base.with_name(base.name + ".py")):
        if path.is_file():
            return path
    return None


def _empty_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == ""


def canonical(node: object) -> str:
    """A syntax tree as text that is the same on every Python from 3.10 for the same source:
    each node's class and its fields sorted by name, fields that are None or empty lists left
    out (so fields a later Python adds, empty for older code, do not show), constants with their
    type, an f-string's empty literal parts and positions (line and column) left out."""
    if isinstance(node, ast.Constant):  # its `kind` ("u" for u"..." strings) is not code
        return f"Constant({type(node.value).__name__}:{node.value!r})"
    if isinstance(node, ast.JoinedStr):  # an f-string, without empty literal parts: 3.12.0-1
        # add one after a nested format spec (f"{a:<{w}}"), other versions none
        return f"JoinedStr({canonical([part for part in node.values if not _empty_text(part)])})"
    if isinstance(node, ast.AST):
        fields = (f"{name}={canonical(value)}" for name, value in sorted(ast.iter_fields(node))
                  if value is not None and value != [])
        return f"{type(node).__name__}({','.join(fields)})"
    if isinstance(node, list):
        return f"[{','.join(canonical(item) for item in node)}]"
    return repr(node)  # an identifier, an operator's flag (an int)


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
    digest = hashlib.sha256(canonical(_without_docstrings(tree)).encode()).hexdigest()
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
