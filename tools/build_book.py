"""Build the book: execute every notebook in _toc.yml with papermill, then render with Jupyter Book.

Usage: python tools/build_book.py --profile {smoke,cpu,gpu,paper}

Notebooks execute in the order of _toc.yml, except a notebook whose metadata holds ``handbook:
{execute_last: true}``, which runs after the others (the scoreboard counts their results).

The sources are staged under _build/src (prose, configuration, the package's source that chapters
include and the executed notebooks), so the
committed notebooks stay output-free. The cell papermill injects after each notebook's parameters
cell (tagged ``injected-parameters``) is tagged ``remove-cell``: the pages show the profile in the
output of the cell that resolves it, and the downloadable notebook keeps the cell. Jupyter Book renders with warnings as errors; execution
failures stop the build with papermill's report of the failing cell. The book opens at
_build/html/index.html.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill
import yaml

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "_build"
STAGE = BUILD / "src"
PROFILES = ("smoke", "cpu", "gpu", "paper")
INJECTED = "injected-parameters"
# What the book's pages show of the cell papermill injects (the notebook itself keeps it).
INJECTED_DISPLAY = "remove-cell"


def toc_files(toc: dict) -> list[str]:
    """Every file named in a jb-book table of contents, root first, in reading order."""
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def stage_sources() -> list[str]:
    """Copy configuration and prose into the staging folder; return the notebooks to execute."""
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(REPO / name, STAGE / name)
    shutil.copytree(REPO / "book", STAGE / "book", ignore=shutil.ignore_patterns("results"))
    # the package's source, for the chapters that show it ({literalinclude} ../handlib/...)
    shutil.copytree(REPO / "handlib", STAGE / "handlib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.yaml"))
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    notebooks = []
    for entry in toc_files(toc):
        if (REPO / f"{entry}.ipynb").is_file():
            notebooks.append(entry)
        elif not (REPO / f"{entry}.md").is_file():
            sys.exit(f"_toc.yml names {entry!r}, but neither {entry}.md nor {entry}.ipynb exists")
    return notebooks


def execution_order(notebooks: list[str]) -> list[str]:
    """The notebooks in reading order, except those whose metadata says ``handbook:
    {execute_last: true}`` (the scoreboard, read first but made from every chapter's results),
    which run after all the others."""
    def last(notebook: str) -> bool:
        metadata = nbformat.read(REPO / f"{notebook}.ipynb", as_version=4).metadata
        return bool(metadata.get("handbook", {}).get("execute_last"))

    return sorted(notebooks, key=last)


def execute(notebook: str, profile: str) -> float:
    source = REPO / f"{notebook}.ipynb"
    target = STAGE / f"{notebook}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(f"[book] executing {notebook}.ipynb (profile={profile})", flush=True)
    papermill.execute_notebook(
        str(source),
        str(target),
        parameters={"profile": profile},
        cwd=str(source.parent),
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
    )
    elapsed = time.perf_counter() - start
    hide_injected_parameters(target)
    print(f"[book] {notebook}.ipynb done in {elapsed:.1f} s", flush=True)
    return elapsed


def hide_injected_parameters(path: Path) -> None:
    """Tag the cell papermill injected with :data:`INJECTED_DISPLAY`, so the page does not show it."""
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if INJECTED in tags and INJECTED_DISPLAY not in tags:
            tags.append(INJECTED_DISPLAY)
            changed = True
    if changed:
        nbformat.write(nb, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=PROFILES)
    args = parser.parse_args()
    notebooks = stage_sources()
    timings = {nb: execute(nb, args.profile) for nb in execution_order(notebooks)}
    html = BUILD / "html"
    if html.exists():
        shutil.rmtree(html)
    subprocess.run(
        [
            str(Path(sys.executable).parent / "jupyter-book"),
            "build",
            str(STAGE),
            "--path-output",
            str(REPO),
            "-W",
            "-n",
            "--keep-going",
        ],
        check=True,
    )
    total = sum(timings.values())
    print(f"[book] executed {len(timings)} notebooks in {total:.0f} s (profile={args.profile})")
    print(f"[book] open {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
