"""The code hash (``handlib.code_version``): the same for the same code on every Python the
project supports, changed by code edits only, computed without importing anything."""
import ast
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from handlib import code_version
from handlib.code_version import canonical, code_hash

REPO = Path(__file__).resolve().parents[1]
#: Every module of handlib, so the cross-interpreter hash covers every construct the code uses
#: (f-strings with nested format specs, match statements, walrus, annotations).
ALL_MODULES = sorted(
    ".".join(path.relative_to(REPO).parts[:-1] if path.name == "__init__.py"
             else path.relative_to(REPO).with_suffix("").parts)
    for path in (REPO / "handlib").rglob("*.py")
)
#: Run by a bare interpreter (standard library only): the hash of ALL_MODULES, then any handlib
#: module other than the package and code_version that got imported (there must be none).
HASH_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from handlib.code_version import code_hash
print(code_hash(sys.argv[2:]))
print(sorted(name for name in sys.modules
             if name.startswith("handlib") and name not in ("handlib", "handlib.code_version")))
"""


def _pyenv_python(version: str) -> str:
    """The pyenv interpreter of ``version`` (e.g. "3.12"); skips the test when there is none."""
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        pytest.skip("pyenv is not installed: no other Python versions to compare the hash under")
    root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=True).stdout.strip()
    found = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", "python3")))
    if not found:
        pytest.skip(f"pyenv has no Python {version} (`pyenv install {version}` adds one)")
    return found[-1]


@pytest.mark.parametrize("version", ["3.10", "3.11", "3.12", "3.13"])
def test_the_code_hash_is_the_same_under_every_python(version):
    """Results made on the GPU machine (Python 3.12) must be current for the book built on 3.11:
    a bare interpreter (no numpy, no torch) hashes every handlib module as this one does."""
    python = _pyenv_python(version)
    done = subprocess.run([python, "-I", "-c", HASH_SCRIPT, str(REPO), *ALL_MODULES],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    digest, imported = done.stdout.splitlines()
    assert imported == "[]", f"computing the hash imported handlib modules: {imported}"
    assert digest == code_hash(ALL_MODULES), f"Python {version} hashes the same code differently"


def test_the_canonical_form_leaves_out_what_only_a_python_version_adds():
    """3.12 gives every function ``type_params=[]``; 3.12.0-1 end the f-string f"{a:<{w}}" with
    an empty literal part; a constant's ``kind`` is not code; positions are not code."""
    old = ast.parse("def f(a):\n    return f'{a:<{w}}'\n")
    new = ast.parse("def f(a):\n\n    return f'{a:<{w}}'  # moved\n")
    function = new.body[0]
    function.type_params = []
    spec = function.body[0].value.values[0].format_spec
    spec.values.append(ast.Constant(""))
    assert canonical(old) == canonical(new)
    assert canonical(ast.Constant(1)) != canonical(ast.Constant(1.0)) != canonical(ast.Constant("1"))
    assert canonical(ast.Constant("x", kind="u")) == canonical(ast.Constant("x"))


@pytest.fixture
def probe_tree(tmp_path, monkeypatch):
    """A handlib tree of two modules under a temporary root: ``m`` imports ``n``."""
    package = tmp_path / "handlib"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "n.py").write_text("K = 1\n")
    monkeypatch.setattr(code_version, "ROOT", tmp_path)
    _clear_caches()
    yield package
    _clear_caches()  # the real tree's modules again


def _clear_caches() -> None:
    code_version._source_file.cache_clear()
    code_version._module_digest.cache_clear()


def _hash_of(package: Path, name: str, text: str) -> str:
    (package / name).write_text(text)
    _clear_caches()
    return code_hash(["handlib.m"])


def test_a_docstring_or_comment_edit_keeps_the_hash_and_a_code_edit_changes_it(probe_tree):
    plain = _hash_of(probe_tree, "m.py", "from handlib.n import K\n\ndef f(x):\n    return x + K\n")
    assert _hash_of(probe_tree, "m.py", '"""Doc."""\n# a comment\nfrom handlib.n import K\n\n\n'
                    'def f(x):\n    """More doc."""\n    return x + K  # why\n') == plain
    assert _hash_of(probe_tree, "m.py", "from handlib.n import K\n\ndef f(x):\n    return x + 2\n") != plain
    _hash_of(probe_tree, "m.py", "from handlib.n import K\n\ndef f(x):\n    return x + K\n")
    assert _hash_of(probe_tree, "n.py", "K = 2\n") != plain, "an imported module's edit counts"


def test_modules_are_found_in_the_tree_without_importing(probe_tree):
    assert code_version._source_file("handlib") == probe_tree / "__init__.py"
    assert code_version._source_file("handlib.n") == probe_tree / "n.py"
    assert code_version._source_file("handlib.n.K") is None  # a name inside a module
    with pytest.raises(ValueError, match="cannot find the source of module 'handlib.absent'"):
        code_hash(["handlib.absent"])
    assert "handlib.n" not in sys.modules
