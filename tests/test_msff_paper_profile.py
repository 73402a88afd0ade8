"""The MS-FF ``paper`` profile end to end on tiny native-format RHD and InterHand2.6M copies (the
published layouts, a few images each), at the chapter's toy size (its `tiny` block): once through
the command line, once through papermill with ``data_root``; the results land where the book
reads them, and the notebook reuses what the command line trained. With one dataset folder
missing, the notebook still runs and says what it could not fill and why."""
import json
import shutil
from pathlib import Path

import pytest

from fake_rgb_datasets import write_msff_data_root
from handlib import cli, results
from handlib.profiles import tiny_overrides

REPO = Path(__file__).resolve().parents[1]
MAIN_RUNS = ("msff", "internet", "posenet")
ABLATIONS = ("msff_no_ccm", "msff_no_grm", "msff_no_lom")


def run_notebook(data_root: Path, out: Path) -> str:
    """Execute the chapter on its paper profile at toy size; the text of every output."""
    import papermill

    papermill.execute_notebook(
        str(REPO / "notebooks" / "11_msff.ipynb"), str(out),
        parameters={"profile": "paper", "data_root": str(data_root), "device": "cpu",
                    "overrides": tiny_overrides("msff")},
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
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.mark.slow
def test_paper_profile_runs_end_to_end_through_the_cli_and_papermill(isolated):
    data_root = write_msff_data_root(isolated / "hands")
    argv = ["train", "--chapter", "msff", "--profile", "paper", "--run", "msff", "--dataset",
            "InterHand2.6M", "--device", "cpu", "--data-root", str(data_root), "--no-progress"]
    assert cli.main(argv + ["--tiny"]) == 0
    cli_run = results.run_dir("msff", "paper", "InterHand2.6M-msff")
    assert (cli_run / results.RUN_FILE).is_file() and (cli_run / results.PREDICTIONS_FILE).is_file()
    cli_record = json.loads((cli_run / results.RUN_FILE).read_text())
    assert cli_record["dataset"]["source"] == "interhand26m"
    assert cli_record["dataset"]["sizes"] == {"train": 6, "val": 6}

    text = run_notebook(data_root, isolated / "out.ipynb")
    for dataset, runs in (("RHD", MAIN_RUNS), ("InterHand2.6M", MAIN_RUNS + ABLATIONS)):
        for run in runs:
            folder = results.run_dir("msff", "paper", f"{dataset}-{run}")
            assert (folder / results.PREDICTIONS_FILE).is_file(), folder
    assert not results.run_dir("msff", "paper", "RHD-msff_no_ccm").exists()  # ablations: IH only
    # the notebook reused the run the command line trained (same configuration, same folder)
    assert json.loads((cli_run / results.RUN_FILE).read_text()) == cli_record
    rhd = json.loads((results.run_dir("msff", "paper", "RHD-msff") / results.RUN_FILE).read_text())
    assert rhd["dataset"]["sizes"] == {"rcsf_train": 7, "rcsf_val": 1}
    assert (isolated / "results" / "msff" / "paper" / results.BENCH_FILE).is_file()
    # what the data was, from the runs' own data specs: never a stand-in, never "not available"
    assert "RHD rcsf_test split (paper profile)" in text
    assert "InterHand2.6M test split (paper profile)" in text
    assert "stand-in (preset" not in text and "not available here" not in text
    assert "Not run" not in text


@pytest.mark.slow
def test_a_missing_dataset_folder_is_named_as_not_run(isolated):
    data_root = write_msff_data_root(isolated / "hands")
    shutil.rmtree(data_root / "InterHand2.6M")

    text = run_notebook(data_root, isolated / "out.ipynb")
    for run in MAIN_RUNS:
        assert (results.run_dir("msff", "paper", f"RHD-{run}") / results.PREDICTIONS_FILE).is_file()
    assert not list((isolated / "results" / "msff" / "paper").glob("InterHand2.6M-*"))
    # the chapter says which dataset it could not fill and why, at its top and where it is used
    assert "InterHand2.6M: InterHand2.6M/ is not under data_root" in text
    assert "Figure 5 not run: InterHand2.6M/ is not under data_root" in text
    assert "Figure 6 not run: InterHand2.6M/ is not under data_root" in text
    assert "RHD rcsf_test split (paper profile)" in text  # the present dataset still is scored
