"""The InterNet+ ``paper`` profile end to end on tiny native-format STB, RHD and InterHand2.6M
copies (the published layouts, a few images each), at the chapter's toy size (its `tiny` block):
once through the command line, once through papermill with ``data_root``; the results land where
the book reads them, and the notebook reuses what the command line trained. With a dataset's
folder missing from ``data_root`` the notebook still runs, and says which columns it left empty
and why."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fake_rgb_datasets import write_internet_plus_data_root
from handlib import cli, results
from handlib.papers.internet_plus import study as ip
from handlib.profiles import load_profile, tiny_overrides
from handlib.study import RGB_CROP_ORACLE, Study, apply_parameters, study_runs

REPO = Path(__file__).resolve().parents[1]
#: The runs the paper profile trains on each dataset (profiles.yaml's study groups, one seed).
RUNS = {
    "STB": {"internet", "internet_plus", "internet_plus_no_ca", "internet_plus_se",
            "internet_plus_no_fcanet", "internet_plus_cbam", "internet_plus_relu",
            "internet_plus_residual", "internet_plus_adam_step"},
    "RHD": {"internet", "internet_plus", "internet_plus_no_ca", "internet_plus_se",
            "internet_plus_no_fcanet"},
    "InterHand2.6M": {"internet", "internet_plus"},
}


@pytest.fixture
def one_thread(monkeypatch):
    """Run torch on one thread, here and in the notebook's kernel (``OMP_NUM_THREADS``): toy
    models gain nothing from a second thread, and on a machine whose cores are shared, threads
    that wait for each other make every step many times slower."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(previous)


def run_notebook(data_root: Path, output: Path) -> str:
    """Execute the chapter on the paper profile at toy size with ``data_root``; returns the text
    of every output (stdout, HTML tables, Markdown) of the executed notebook."""
    import papermill

    papermill.execute_notebook(
        str(REPO / "notebooks" / "12_internet_plus.ipynb"), str(output),
        parameters={"profile": "paper", "data_root": str(data_root), "device": "cpu",
                    "overrides": tiny_overrides("internet_plus")},
        cwd=str(REPO / "notebooks"), kernel_name="python3", progress_bar=False,
    )
    texts = []
    for cell in json.loads(output.read_text())["cells"]:
        for out in cell.get("outputs", []):
            texts.append("".join(out.get("text", "")))
            texts.extend("".join(out.get("data", {}).get(kind, ""))
                         for kind in ("text/html", "text/markdown"))
    return "\n".join(texts)


@pytest.mark.slow
def test_paper_profile_runs_end_to_end_through_the_cli_and_papermill(tmp_path, monkeypatch,
                                                                      one_thread):
    data_root = write_internet_plus_data_root(tmp_path / "hands")
    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path / "results"))

    argv = ["train", "--chapter", "internet_plus", "--profile", "paper", "--run",
            "internet_plus", "--dataset", "STB", "--device", "cpu", "--data-root",
            str(data_root), "--no-progress"]
    assert cli.main(argv + ["--tiny"]) == 0
    cli_run = results.run_dir("internet_plus", "paper", "STB-internet_plus")
    assert (cli_run / results.RUN_FILE).is_file() and (cli_run / results.PREDICTIONS_FILE).is_file()
    cli_record = json.loads((cli_run / results.RUN_FILE).read_text())
    assert cli_record["dataset"]["source"] == "stb"
    # STB's validation split is the held-out part of its training sequences
    assert cli_record["dataset"]["sizes"] == {"train:fit": 9, "train:val": 1}

    text = run_notebook(data_root, tmp_path / "out.ipynb")
    for dataset, runs in RUNS.items():
        for run in runs:
            folder = results.run_dir("internet_plus", "paper", f"{dataset}-{run}")
            assert (folder / results.PREDICTIONS_FILE).is_file(), folder
    trained = {path.name for path in (tmp_path / "results" / "internet_plus" / "paper").iterdir()
               if path.is_dir()}
    assert trained == {f"{dataset}-{run}" for dataset, runs in RUNS.items() for run in runs}
    # the notebook reused the run the command line trained (same configuration, same folder)
    assert json.loads((cli_run / results.RUN_FILE).read_text()) == cli_record
    interhand = json.loads((results.run_dir("internet_plus", "paper", "InterHand2.6M-internet")
                            / results.RUN_FILE).read_text())
    assert interhand["dataset"]["source"] == "interhand26m"
    assert interhand["dataset"]["sizes"] == {"train": 3, "val": 3}
    profile_folder = tmp_path / "results" / "internet_plus" / "paper"
    assert (profile_folder / results.BENCH_FILE).is_file()
    assert (profile_folder / "verdicts.json").is_file()
    # every table names the real data it was tested on, and none is left empty
    for data in ("STB test split (paper profile)", "RHD rcsf_test split (paper profile)",
                 "InterHand2.6M test split (paper profile)"):
        assert data in text
    assert "synthetic stand-in" not in text
    assert "is not run" not in text and "left empty" not in text


@pytest.mark.slow
def test_without_rhd_the_notebook_says_which_columns_it_left_empty(tmp_path, monkeypatch,
                                                                   one_thread):
    data_root = write_internet_plus_data_root(tmp_path / "hands")
    shutil.rmtree(data_root / "RHD_published_v2")
    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path / "results"))

    text = run_notebook(data_root, tmp_path / "out.ipynb")
    why = f"RHD_published_v2/ is not under data_root {data_root}"
    assert f"RHD is not run ({why})" in text
    for table, column in (("Table 2", "EPE (RHD)"), ("Table 6", "RHD"), ("Table 7", "RHD")):
        assert f"{table}." in text and f"Reproduced columns left empty: {column}: not run: {why}" in text
    assert f"RHD: not run: {why}" in text  # the run column of Tables 2, 6 and 7
    assert "not run: absent from data_root (RHD)" in text  # the RHD claims' data
    trained = {path.name for path in (tmp_path / "results" / "internet_plus" / "paper").iterdir()
               if path.is_dir()}
    assert trained == {f"{dataset}-{run}" for dataset in ("STB", "InterHand2.6M")
                       for run in RUNS[dataset]}


def test_an_absent_dataset_leaves_its_columns_and_panels_empty_with_the_reason(tmp_path):
    for folder in ("STB", "InterHand2.6M"):
        (tmp_path / folder).mkdir()
    cfg = apply_parameters(load_profile("internet_plus", "paper"), data_root=tmp_path)
    runs = study_runs(cfg)
    untrained = Study(cfg, runs, {run.run_id: None for run in runs})
    why = f"not run: RHD_published_v2/ is not under data_root {tmp_path}"
    assert ip.data_of(untrained, "RHD") == why
    assert ip.data_of(untrained, "STB") == f"STB test split (paper profile), {RGB_CROP_ORACLE}"
    table = ip.reproduced_with_runs(untrained, "2", ip.table_2(untrained))
    assert np.isnan(table[("EPE (RHD)", "reproduced")]).all()
    assert table.attrs["caption"].endswith(f"Reproduced columns left empty: EPE (RHD): {why}.")
    both = ip.reproduced_with_runs(untrained, "5", ip.table_5(untrained))
    assert "left empty" not in both.attrs["caption"]
    figure = ip.figure_pck(untrained, {})
    assert figure.axes[1].get_title() == f"RHD: {why}"
    assert figure.axes[0].get_title() == f"STB: STB test split (paper profile), {RGB_CROP_ORACLE}"
    (tmp_path / "STB").rmdir()
    (tmp_path / "RHD_published_v2").mkdir()
    cfg = apply_parameters(load_profile("internet_plus", "paper"), data_root=tmp_path)
    runs = study_runs(cfg)
    without_stb = Study(cfg, runs, {run.run_id: None for run in runs})
    assert ip.convergence_curves(without_stb).empty
    figure = ip.figure_convergence(without_stb)
    assert figure.axes[0].texts[0].get_text() == (
        f"STB: not run: STB/ is not under data_root {tmp_path}")
