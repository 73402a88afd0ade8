"""The RCSF ``paper`` profile end to end on tiny native-format STB and RHD copies (the published
layouts, a few images each), at the chapter's toy size (its `tiny` block): once through the
command line, once through papermill with ``data_root``; the results land where the book reads
them, and the notebook reuses what the command line trained."""
import json
from pathlib import Path

import pytest

from fake_rgb_datasets import write_rcsf_data_root
from handlib import cli, results
from handlib.profiles import tiny_overrides

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_paper_profile_runs_end_to_end_through_the_cli_and_papermill(tmp_path, monkeypatch):
    import papermill

    data_root = write_rcsf_data_root(tmp_path / "hands")
    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path / "cache"))

    argv = ["train", "--chapter", "rcsf", "--profile", "paper", "--run", "rcsf", "--dataset",
            "STB", "--device", "cpu", "--data-root", str(data_root), "--no-progress"]
    assert cli.main(argv + ["--tiny"]) == 0
    cli_run = results.run_dir("rcsf", "paper", "STB-rcsf")
    assert (cli_run / results.RUN_FILE).is_file() and (cli_run / results.PREDICTIONS_FILE).is_file()
    cli_record = json.loads((cli_run / results.RUN_FILE).read_text())
    assert cli_record["dataset"]["source"] == "stb"
    assert cli_record["dataset"]["sizes"] == {"rcsf_train": 8, "rcsf_val": 2}

    papermill.execute_notebook(
        str(REPO / "notebooks" / "10_rcsf.ipynb"), str(tmp_path / "out.ipynb"),
        parameters={"profile": "paper", "data_root": str(data_root), "device": "cpu",
                    "overrides": tiny_overrides("rcsf")},
        cwd=str(REPO / "notebooks"), kernel_name="python3", progress_bar=False,
    )
    for dataset in ("STB", "RHD"):
        for run in ("rcsf", "cpn50", "hrnet_w48", "rcsf_global_only"):
            folder = results.run_dir("rcsf", "paper", f"{dataset}-{run}")
            assert (folder / results.PREDICTIONS_FILE).is_file(), folder
    # the OHKM sweep (Table 5) is STB's only
    assert (results.run_dir("rcsf", "paper", "STB-rcsf_m9") / results.PREDICTIONS_FILE).is_file()
    assert not results.run_dir("rcsf", "paper", "RHD-rcsf_m9").exists()
    # the notebook reused the run the command line trained (same configuration, same folder)
    assert json.loads((cli_run / results.RUN_FILE).read_text()) == cli_record
    rhd = json.loads((results.run_dir("rcsf", "paper", "RHD-rcsf") / results.RUN_FILE)
                     .read_text())
    assert rhd["dataset"]["sizes"] == {"rcsf_train": 29, "rcsf_val": 2}
    assert (tmp_path / "results" / "rcsf" / "paper" / results.BENCH_FILE).is_file()


@pytest.mark.slow
def test_paper_profile_runs_on_the_datasets_present_and_names_the_absent_one(tmp_path,
                                                                             monkeypatch):
    import shutil

    import papermill

    data_root = write_rcsf_data_root(tmp_path / "hands")
    shutil.rmtree(data_root / "RHD_published_v2")
    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path / "results"))
    papermill.execute_notebook(
        str(REPO / "notebooks" / "10_rcsf.ipynb"), str(tmp_path / "out.ipynb"),
        parameters={"profile": "paper", "data_root": str(data_root), "device": "cpu",
                    "overrides": tiny_overrides("rcsf")},
        cwd=str(REPO / "notebooks"), kernel_name="python3", progress_bar=False,
    )
    assert (results.run_dir("rcsf", "paper", "STB-rcsf") / results.PREDICTIONS_FILE).is_file()
    assert not results.run_dir("rcsf", "paper", "RHD-rcsf").exists()
    shown = (tmp_path / "out.ipynb").read_text()
    assert f"not run: RHD_published_v2/ is not under data_root {data_root}" in shown
