"""The ResUnet ``paper`` profile end to end on tiny native-format copies of GANerated, SynthHands
and STB (the published layouts, a few images each), at the chapter's toy size (its `tiny`
block): once through the command line, once through papermill with ``data_root``. The results
land where the book reads them, the notebook reuses what the command line trained, its pages
name the real data they show, and a dataset missing from ``data_root`` shows as not run, with
the reason, instead of failing the page."""
import json
import shutil
from pathlib import Path

import pytest

from fake_rgb_datasets import write_resunet_data_root
from handlib import cli, results
from handlib.profiles import tiny_overrides
from handlib.study import RGB_CROP_ORACLE

REPO = Path(__file__).resolve().parents[1]
#: Every run the paper profile trains at toy size (one seed): the main pair on each dataset, the
#: controls on GANerated and SynthHands.
CONTROLS = ("argmax", "fixed_beta", "joints", "no_skips", "no_augmentation")
RUNS = {"GANerated": ("resunet", "baseline", *CONTROLS),
        "SynthHands": ("resunet", "baseline", *CONTROLS),
        "STB": ("resunet", "baseline")}


def run_notebook(data_root: Path, out: Path) -> str:
    """Execute the chapter's notebook on the paper profile at toy size; returns the text of
    every output (streams, markdown, plain text and HTML tables)."""
    import papermill

    papermill.execute_notebook(
        str(REPO / "notebooks" / "13_resunet.ipynb"), str(out),
        parameters={"profile": "paper", "data_root": str(data_root), "device": "cpu",
                    "overrides": tiny_overrides("resunet")},
        cwd=str(REPO / "notebooks"), kernel_name="python3", progress_bar=False,
    )
    texts = []
    for cell in json.loads(out.read_text())["cells"]:
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            for kind in ("text/markdown", "text/html", "text/plain"):
                texts.append("".join(output.get("data", {}).get(kind, "")))
    return "\n".join(texts)


@pytest.fixture
def isolated_results(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.mark.slow
def test_paper_profile_runs_end_to_end_through_the_cli_and_papermill(isolated_results):
    tmp_path = isolated_results
    data_root = write_resunet_data_root(tmp_path / "hands")

    argv = ["train", "--chapter", "resunet", "--profile", "paper", "--run", "resunet",
            "--dataset", "STB", "--device", "cpu", "--data-root", str(data_root),
            "--no-progress", "--tiny"]
    assert cli.main(argv) == 0
    cli_run = results.run_dir("resunet", "paper", "STB-resunet")
    assert (cli_run / results.RUN_FILE).is_file() and (cli_run / results.PREDICTIONS_FILE).is_file()
    cli_record = json.loads((cli_run / results.RUN_FILE).read_text())
    assert cli_record["dataset"]["source"] == "stb"
    assert cli_record["dataset"]["sizes"] == {"train:fit": 9, "train:val": 1}

    text = run_notebook(data_root, tmp_path / "out.ipynb")
    for dataset, runs in RUNS.items():
        for run in runs:
            folder = results.run_dir("resunet", "paper", f"{dataset}-{run}")
            assert (folder / results.PREDICTIONS_FILE).is_file(), folder
    # the notebook reused the run the command line trained (same configuration, same folder)
    assert json.loads((cli_run / results.RUN_FILE).read_text()) == cli_record
    synthhands = json.loads((results.run_dir("resunet", "paper", "SynthHands-resunet")
                             / results.RUN_FILE).read_text())
    assert synthhands["dataset"] == {"source": "synthhands", "sizes": {"train": 12, "val": 4}}
    paper_results = tmp_path / "results" / "resunet" / "paper"
    assert (paper_results / results.BENCH_FILE).is_file()
    # the pages name the real data, never a stand-in
    assert "stand-in" not in text.replace("a synthetic stand-in, which cannot test", "")
    for dataset in RUNS:
        assert f"{dataset} test split (paper profile)" in text
    # real data labels no occlusion: the breakdown says so instead of a table of NaN
    assert "labels no joint as visible, self- or object-occluded" in text
    verdicts = {row["claim"]: row for row in
                json.loads((paper_results / "verdicts.json").read_text())["verdicts"]}
    assert verdicts["beats_baseline_stb"]["tested on"] == (
        f"STB test split (paper profile), {RGB_CROP_ORACLE}")
    assert "no hard split" in verdicts["augmentation_helps"]["tested on"]


@pytest.mark.slow
def test_a_dataset_missing_from_data_root_shows_as_not_run_with_its_reason(isolated_results):
    tmp_path = isolated_results
    data_root = write_resunet_data_root(tmp_path / "hands")
    shutil.rmtree(data_root / "SynthHands_Release")

    text = run_notebook(data_root, tmp_path / "out.ipynb")
    reason = f"not run: SynthHands_Release/ is not under data_root {data_root}"
    assert f"SynthHands</strong>: {reason}" in text or f"**SynthHands**: {reason}" in text
    # the main and controls tables keep a row for it, saying why it is empty
    assert text.count(reason) >= 3
    assert not results.run_dir("resunet", "paper", "SynthHands-resunet").exists()
    assert (results.run_dir("resunet", "paper", "GANerated-resunet")
            / results.PREDICTIONS_FILE).is_file()
    verdicts = {row["claim"]: row for row in json.loads(
        (tmp_path / "results" / "resunet" / "paper" / "verdicts.json").read_text())["verdicts"]}
    claim = verdicts["beats_baseline_synthhands"]
    assert claim["verdict"] == "inconclusive" and claim["reason"].startswith("not run")
    assert claim["tested on"] == "not run: absent from data_root (SynthHands)"
