"""The CrossInfoNet ``paper`` profile end to end on tiny native-format ICVL, NYU and MSRA copies
(the published layouts, a few frames each), at the chapter's toy size (its `tiny` block): once
through the command line, once through papermill with ``data_root``; the results land where the
book reads them, the notebook reuses what the command line trained, and a data_root without
MSRA still builds the chapter, saying which datasets were not run and why. Beside them, fast
checks of what those runs exposed: the fixture copies, Fig. 8 on ICVL's five labelled joints,
the speed claim without a timing, an absent column in Table 1 and the claims."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fake_depth_datasets import write_crossinfonet_data_root
from handlib import cli, papers, report, results, study as studies
from handlib.data.formats import open_dataset
from handlib.papers.crossinfonet import models, study as chapter
from handlib.profiles import load_profile, tiny_overrides

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "14_crossinfonet.ipynb"


def run_notebook(data_root: Path, out: Path) -> str:
    """Execute the chapter on the ``paper`` profile at toy size; the text of its outputs."""
    import papermill

    papermill.execute_notebook(
        str(NOTEBOOK), str(out),
        parameters={"profile": "paper", "data_root": str(data_root), "device": "cpu",
                    "overrides": tiny_overrides("crossinfonet")},
        cwd=str(REPO / "notebooks"), kernel_name="python3", progress_bar=False,
    )
    texts = []
    for cell in json.loads(out.read_text())["cells"]:
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            for kind in ("text/markdown", "text/html", "text/plain"):
                texts.append("".join(output.get("data", {}).get(kind, "")))
    return "\n".join(texts)


@pytest.mark.slow
def test_paper_profile_runs_end_to_end_through_the_cli_and_papermill(tmp_path, monkeypatch):
    data_root = write_crossinfonet_data_root(tmp_path / "hands")
    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path / "results"))

    argv = ["train", "--chapter", "crossinfonet", "--profile", "paper", "--run", "cross_hm",
            "--dataset", "NYU", "--device", "cpu", "--data-root", str(data_root),
            "--no-progress", "--tiny"]
    assert cli.main(argv) == 0
    cli_run = results.run_dir("crossinfonet", "paper", "NYU-cross_hm")
    assert (cli_run / results.PREDICTIONS_FILE).is_file()
    cli_record = json.loads((cli_run / results.RUN_FILE).read_text())
    assert cli_record["dataset"]["source"] == "nyu"

    text = run_notebook(data_root, tmp_path / "out.ipynb")
    runs = [f"{d}-{r}" for d in ("ICVL", "NYU") for r in ("base", "base_hm", "cross", "cross_hm")]
    runs += ["NYU-single_branch", "NYU-palm_mask_only", "NYU-finger_mask_only"]
    runs += [f"MSRA-P{k}-cross_hm" for k in range(9)]
    runs += ["ICVL-cross_hm_oracle", "NYU-cross_hm_oracle"]  # the labels' centre, beside
    for run in runs:
        folder = results.run_dir("crossinfonet", "paper", run)
        assert (folder / results.PREDICTIONS_FILE).is_file(), folder
    # the notebook reused the run the command line trained (same configuration, same folder)
    assert json.loads((cli_run / results.RUN_FILE).read_text()) == cli_record
    paper = tmp_path / "results" / "crossinfonet" / "paper"
    assert (paper / results.BENCH_FILE).is_file() and (paper / report.VERDICTS_FILE).is_file()
    # the pages name the real data, never a stand-in
    assert "ICVL test split (paper profile)" in text and "NYU test split (paper profile)" in text
    verdicts = json.loads((paper / report.VERDICTS_FILE).read_text())["verdicts"]
    assert not any("stand-in" in (row["tested on"] or "") for row in verdicts)
    # no refined-centre files in the copies: the crops fall back to the depth centre, and say so
    missing = str(data_root / "NYU" / "center_test_refined.txt")
    assert f"V2V-PoseNet's refined centres are not in {missing}" in text
    assert any(f"are not in {missing}" in (row["tested on"] or "") for row in verdicts)


@pytest.mark.slow
def test_a_data_root_without_msra_builds_the_chapter_and_says_what_was_not_run(tmp_path,
                                                                               monkeypatch):
    data_root = write_crossinfonet_data_root(tmp_path / "hands")
    shutil.rmtree(data_root / "MSRA")
    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path / "results"))

    text = run_notebook(data_root, tmp_path / "out.ipynb")
    reason = f"not run, MSRA/ is not under data_root {data_root}"
    assert "MSRA-P0, MSRA-P1" in text and reason in text
    assert not results.run_dir("crossinfonet", "paper", "MSRA-P0-cross_hm").exists()
    assert results.run_dir("crossinfonet", "paper", "ICVL-cross_hm").exists()


# ----------------------------------------------------------------------------- fast checks


def test_the_fixture_copies_open_every_paper_split_with_depth_at_the_hand(tmp_path):
    """Each split of the paper profile opens with frames, the held-out validation part
    included, and a crop around each frame's labelled joints sees depth within the cube."""
    root = write_crossinfonet_data_root(tmp_path)
    cfg = load_profile("crossinfonet", "paper")
    for name, spec in cfg["study"]["datasets"].items():
        for split in spec["splits"].values():
            frames = open_dataset(spec["source"], root / spec["folder"], split)
            assert len(frames) >= 1, (name, split)
    for source, folder, split in (("nyu", "NYU", "train"), ("icvl", "ICVL", "train_genuine")):
        frames = open_dataset(source, root / folder, split)
        assert len(frames) >= 5, source  # a fit part of several frames and one to validate
        for sample in frames:
            valid = sample["joint_valid"]
            u, v = np.round(sample["kp2d"][valid]).astype(int).T
            seen = sample["depth"][v, u]
            assert np.all(np.abs(seen - sample["kp3d"][valid, 2]) < 125.0), source  # half-cube


def test_branch_heat_maps_match_the_targets_at_any_input_size():
    """At a 32² input the palm and finger heat maps are 8², as the codec's targets."""
    model = models.crossinfonet(input_size=32, width=4, layers=[1, 1, 1, 1], channels=8, fc=16)
    out = model(torch.zeros(2, 1, 32, 32))
    assert out["heatmaps"].shape[-2:] == (8, 8)
    assert out["heatmaps_palm"].shape[-2:] == out["heatmaps_finger"].shape[-2:] == (8, 8)


def icvl_like_study(absent: dict[str, str] | None = None) -> studies.Study:
    """The paper profile's study with hand-made records: ICVL frames labelled on the five
    fingertips only (NaN elsewhere, as the loader gives them), NYU fully labelled; ``absent``
    datasets (name -> reason) left out as ``apply_parameters`` leaves out a missing folder."""
    cfg = load_profile("crossinfonet", "paper")
    cfg["study"]["absent"] = dict(absent or {})
    for name in cfg["study"]["absent"]:
        del cfg["study"]["datasets"][name]
    for group in cfg["study"]["groups"].values():
        group["datasets"] = [d for d in group["datasets"] if d in cfg["study"]["datasets"]]
    runs = studies.study_runs(cfg)
    rng = np.random.default_rng(0)
    predictions = {}
    for run in runs:
        kp2d = rng.uniform(100, 200, (4, 21, 2)).astype(np.float32)
        kp3d = np.concatenate([kp2d, np.full((4, 21, 1), 400.0, np.float32)], axis=-1)
        labelled = np.ones((4, 21), bool)
        if run.dataset == "ICVL":
            labelled[:] = False
            labelled[:, [4, 8, 12, 16, 20]] = True
            kp2d[~labelled], kp3d[~labelled] = np.nan, np.nan
        predictions[run.run_id] = {"kp2d": kp2d, "kp2d_pred": kp2d + 2, "kp3d": kp3d,
                                   "kp3d_pred": kp3d + 2, "labelled": labelled,
                                   "in_frame": labelled, "visible": labelled,
                                   "index": np.arange(4)}
    return studies.Study(cfg, runs, predictions)


def test_fig8_frames_the_labelled_joints_of_a_partly_labelled_dataset(monkeypatch):
    study = icvl_like_study()
    monkeypatch.setattr(chapter, "sample_images",
                        lambda run, indices: [np.full((240, 320), 400.0) for _ in indices])
    figure = chapter.figure_qualitative(study)
    first = figure.axes[0]
    assert np.isfinite(first.get_xlim()).all() and np.isfinite(first.get_ylim()).all()
    assert first.get_title().startswith("ICVL test split (paper profile)")


def test_the_speed_claim_without_a_timing_is_inconclusive_and_says_why():
    bench = {"device_name": "a CPU", "settings": {"input_size": 96, "speed_runs": [],
                                                  "batch_sizes": [1]},
             "models": [{"label": "CrossInfoNet", "device": "cpu", "speed": []}]}
    inputs = chapter.claim_results(icvl_like_study(), bench=bench)["speed_124_fps"]
    claim = next(c for c in papers.claims("crossinfonet") if c["id"] == "speed_124_fps")
    verdicts = report.verdict_table([claim], {claim["id"]: inputs})
    assert verdicts.loc["speed_124_fps", "verdict"] == "inconclusive"
    assert "not measured" in verdicts.loc["speed_124_fps", "tested on"]


def test_an_absent_column_is_not_run_with_its_reason_in_table_1_and_the_claims():
    reason = "ICVL/ is not under data_root /data"
    study = icvl_like_study({"ICVL": reason})
    table = chapter.table_1(study)
    assert table["ICVL"].isna().all() and table["NYU"].notna().all()
    assert all(f"ICVL: not run: {reason}" in label
               for label in studies.run_labels(study, "1").values())
    assert chapter.column_data(study, "NYU") == (
        "NYU test split (paper profile), crops centred on V2V-PoseNet's published refined "
        "centres where supplied, else crops centred from the depth frame alone (its centre of "
        "mass, no label read)")
    found = chapter.claim_results(study)
    icvl_claims = [c["id"] for c in papers.claims("crossinfonet")
                   if c.get("table") == "1" and c["column"] == "ICVL"
                   and c["testable_on"] != "not_here"]
    verdicts = report.verdict_table(papers.claims("crossinfonet"), found)
    assert icvl_claims and all(found[c]["tested_on"] == "not run: absent from data_root (ICVL)"
                               and verdicts.loc[c, "reason"].startswith(report.NOT_RUN)
                               for c in icvl_claims)
    assert chapter.not_run_note(study).startswith(f"- ICVL: not run, {reason}")
    assert chapter.msra_stand_in_pose(study) is not None  # drawn on NYU's fully labelled hands
