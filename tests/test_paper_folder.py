"""A paper is its folder: a toy paper written into a copy of ``handlib`` joins the book with no
other edit to the package. Its claims reach the claims register, its row the scoreboard, its
model and loss the registries, and a run of its model gets the model's codec and loss.

The copy lives under ``tmp_path`` and is imported in a subprocess with the copy first on
``sys.path``, so the real package is never touched. ``tests/test_adding_a_paper.py`` checks that
the page "Adding a paper" names exactly the files :data:`TOY_FILES` writes.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from handlib import losses, models, occlusion, papers, profiles, runconfig
from handlib.papers import rcsf

HANDLIB = Path(__file__).resolve().parents[1] / "handlib"

#: The files of the toy paper's folder, ``handlib/papers/toy/``: all a paper needs inside it.
TOY_FILES: dict[str, str] = {
    "__init__.py": '''\
        """Paper 6, Toy (Nobody 2026): one tiny heat-map model, to show a paper is its folder."""

        MODELS = {"toy": {"build": "handlib.papers.toy.models:toy", "codecs": ["heatmap2d"],
                          "codec": "heatmap2d", "loss": "toy"}}
        LOSSES = {"toy": "handlib.papers.toy.models:toy_loss"}
        ''',
    "models.py": '''\
        """The toy model: one convolution from an image to 21 heat maps at a quarter of its side."""
        import torch.nn as nn

        from handlib.losses import heatmap_mse


        class Toy(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 21, kernel_size=4, stride=4)

            def forward(self, image):
                return {"heatmaps": self.conv(image)}


        def toy(**kwargs):
            return Toy(**kwargs)


        def toy_loss():
            return heatmap_mse()
        ''',
    "paper.yaml": '''\
        id: toy
        title: "A Toy Paper"
        authors: [A. Nobody]
        venue: "nowhere"
        year: 2026
        citation_key: nobody2026toy
        book:
          name: Toy
          notebook: 15_toy
          headline_tables: ["1"]
        settings:
          input_size: {value: 32, section: "2"}
        tables:
          "1":
            caption: "PCK on a made-up dataset."
            units: fraction
            index_name: Method
            columns: [PCK@0.2]
            rows: {Toy: [0.9], Baseline: [0.8]}
        claims:
          - id: toy_beats_baseline
            text: "{subject} beats {reference} at {column}"
            table: "1"
            metric: PCK@0.2
            better: higher
            subject: Toy
            reference: Baseline
            column: PCK@0.2
            testable_on: paper_table
            why: "A toy claim."
        artefacts:
          - {id: "Table 1", shows: "PCK", section: null, regenerated: "no", note: "a toy"}
        ''',
    "profiles.yaml": '''\
        common:
          model: {name: toy}
          data: {input_size: 32}
        profiles:
          smoke: {}
          cpu: {}
          gpu: {}
          paper: {}
        ''',
}

#: Run inside the copy: everything the book reads about its papers, which must include the toy.
CHECK = '''
from handlib import losses, models, papers, runconfig, scoreboard
from handlib.profiles import load_profile

assert papers.__file__.startswith(COPY), papers.__file__
assert papers.PAPERS[-1] == "toy", papers.PAPERS           # after 14_crossinfonet
# the claims register (notebooks/00_claims.ipynb): papers, headline tables, claims
assert [papers.table("toy", t).shape for t in papers.book("toy")["headline_tables"]] == [(2, 1)]
assert list(papers.claims_table("toy").index) == ["toy_beats_baseline"]
# the scoreboard: a row for the toy paper, linked to its chapter, its claim counted
board = scoreboard.scoreboard("smoke")
assert '<a href="15_toy.html">Toy</a>' in board.index, list(board.index)
assert board.loc['<a href="15_toy.html">Toy</a>', "claims"] == 1
# the registries and the model's pairing
assert models.module_of("toy") == "handlib.papers.toy.models"
assert losses.module_of("toy") == "handlib.papers.toy.models"
run = runconfig.resolve_config(load_profile("toy", "smoke"))
assert run["data"]["codec"] == {"name": "heatmap2d"} and run["loss"] == {"name": "toy"}, run
assert set(models.build("toy")(__import__("torch").zeros(1, 3, 32, 32))) == {"heatmaps"}
print("toy paper found")
'''


def write_toy_copy(root: Path) -> Path:
    """A copy of ``handlib`` under ``root`` with the toy paper's folder added."""
    copy = root / "handlib"
    shutil.copytree(HANDLIB, copy, ignore=shutil.ignore_patterns("__pycache__"))
    folder = copy / "papers" / "toy"
    folder.mkdir()
    for name, text in TOY_FILES.items():
        (folder / name).write_text(textwrap.dedent(text))
    return copy


def test_a_toy_paper_folder_joins_the_book_with_no_other_edit(tmp_path):
    copy = write_toy_copy(tmp_path)
    script = f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nCOPY = {str(copy)!r}\n" + CHECK
    env = {**os.environ, "HANDLIB_RESULTS": str(tmp_path / "results"),
           "HANDLIB_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "toy paper found" in done.stdout


# ----------------------------------------------------------------------------- the real papers


def test_the_papers_are_found_in_their_folders_in_the_books_order():
    assert papers.PAPERS == ("rcsf", "msff", "internet_plus", "resunet", "crossinfonet")
    for paper in papers.PAPERS:
        place = papers.book(paper)
        assert (HANDLIB.parent / "notebooks" / f"{place['notebook']}.ipynb").is_file()
        for table_id in place["headline_tables"]:
            papers.table(paper, table_id)


def test_every_registered_model_declares_its_codecs_codec_and_loss():
    for name, entry in models.REGISTRY.items():
        assert set(entry) == {"build", "codecs", "codec", "loss"}, name
        assert (entry["codec"] is None) == (entry["loss"] is None) == (not entry["codecs"]), name
        if entry["codec"] is not None:
            assert entry["codec"] in entry["codecs"], name
            losses.module_of(entry["loss"])  # a registered loss


def test_each_paper_registers_its_own_models_and_losses():
    assert models.CORE.keys().isdisjoint(rcsf.MODELS) and "rcsf" in rcsf.MODELS
    assert models.REGISTRY["rcsf"] == rcsf.MODELS["rcsf"]
    assert losses.LOSSES["cpn"] == rcsf.LOSSES["cpn"] and "cpn" not in losses.CORE


def test_a_registration_made_twice_is_refused():
    with pytest.raises(ValueError, match="'rcsf' is registered twice"):
        papers.registry({"rcsf": "somewhere:else"}, "MODELS")


def test_a_run_that_names_no_codec_or_loss_gets_its_models():
    resolved = runconfig.resolve_config({"model": {"name": "crossinfonet"}})
    assert resolved["data"]["codec"] == {"name": "depth_crop"}
    assert resolved["loss"] == {"name": "crossinfonet"}
    composite = runconfig.resolve_config({"model": {"name": "resunet"}})
    assert composite["data"]["codec"] == [{"name": "softargmax2d"}, {"name": "bones3d"}]
    stated = {"model": {"name": "rcsf"}, "loss": {"name": "heatmap_mse"},
              "data": {"codec": {"name": "heatmap2d", "heatmap_size": 16}}}
    resolved = runconfig.resolve_config(stated)
    assert resolved["loss"] == stated["loss"] and resolved["data"] == stated["data"]


def test_a_model_given_a_codec_it_does_not_work_with_is_refused():
    config = {"model": {"name": "rcsf"}, "data": {"codec": {"name": "depth_crop"}}}
    with pytest.raises(ValueError) as refused:
        runconfig.resolve_config(config)
    message = str(refused.value)
    assert "model 'rcsf'" in message and "'depth_crop'" in message and "'heatmap2d'" in message
    with pytest.raises(ValueError, match="a trunk without a head"):
        runconfig.resolve_config({"model": {"name": "resnet18"},
                                  "data": {"codec": {"name": "heatmap2d"}}})


def test_every_run_of_every_profile_resolves_as_it_reads():
    """Every run states its codec and loss, so the model's defaults change none of them: each
    resolves to its own sections over the engine's defaults, and its model takes its codec."""
    for chapter, path in profiles.profile_files().items():
        if not profiles.trains(yaml.safe_load(path.read_text())):
            continue
        for profile in profiles.PROFILE_NAMES:
            cfg = profiles.load_profile(chapter, profile)
            for run in cfg.get("runs", [None]):
                config = profiles.resolve_run(cfg, run)
                assert (runconfig.resolve_config(config)
                        == profiles.deep_merge(runconfig.DEFAULTS, config)), (chapter, run)


def test_the_occlusion_benchmark_reads_each_papers_entry_from_its_folder():
    cfg = occlusion.load_config("smoke")
    assert list(cfg["chapters"]) == list(papers.PAPERS)
    assert cfg["chapters"]["rcsf"] == {"name": "RCSF", "dataset": "RHD", "group": "main",
                                       "main": "Ours"}
    assert [claim["paper"] for claim in occlusion.claims(cfg)] == list(papers.PAPERS)
