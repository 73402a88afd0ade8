"""The shared study machinery: run expansion, one run-configuration builder for the notebooks and
``handlib train --chapter``, families, the split and device guards, and data_root checks."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from handlib import bench, cli, engine, models, papers, profiles, report, results, study
from handlib.profiles import PROFILE_NAMES, load_profile

REPO = Path(__file__).resolve().parents[1]
STUDY_CHAPTERS = [c for c in profiles.available_chapters() if "study" in load_profile(c, "smoke")]


def paper_root(tmp_path: Path, chapter: str) -> Path:
    """A data_root holding (empty) folders for every real dataset of the paper profile."""
    cfg = load_profile(chapter, "paper")
    for name, spec in cfg["study"]["datasets"].items():
        (tmp_path / spec.get("folder", name)).mkdir(parents=True, exist_ok=True)
    return tmp_path


def notebook_runs(chapter: str, profile: str, data_root) -> list[study.Run]:
    """The runs the chapter's notebook trains: its setup cell's builder, then study_runs."""
    cfg = study.apply_parameters(load_profile(chapter, profile), data_root=data_root)
    return study.study_runs(cfg)


def test_rcsf_notebook_uses_the_shared_builder():
    notebook = json.loads((REPO / "notebooks" / "10_rcsf.ipynb").read_text())
    setup = "".join(notebook["cells"][2]["source"])
    assert 'apply_parameters(load_profile("rcsf", profile), data_root=data_root' in setup
    assert "run_study(cfg" in "".join("".join(c["source"]) for c in notebook["cells"])


@pytest.mark.parametrize("chapter", STUDY_CHAPTERS)
@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_cli_and_notebook_build_the_same_runs(chapter, profile, tmp_path, monkeypatch):
    data_root = paper_root(tmp_path, chapter) if profile == "paper" else None
    expected = {(r.dataset, r.name, r.seed): r for r in notebook_runs(chapter, profile, data_root)}
    seen = {}

    def fake_predict(run, experiment, profile_name, **_):
        seen[(run.dataset, run.name, run.seed)] = (
            run.config, results.run_dir(experiment, profile_name, run.run_id))

    monkeypatch.setattr(study, "predict_test_split", fake_predict)
    monkeypatch.setattr(results, "load_run", lambda *a: {"metrics": {}})
    for (dataset, name, seed), run in expected.items():
        argv = ["train", "--chapter", chapter, "--profile", profile, "--run", name,
                "--dataset", dataset, "--training-seed", str(seed)]
        if data_root is not None:
            argv += ["--set", f"data.data_root={data_root}"]
        assert cli.main(argv) == 0
        config, path = seen[(dataset, name, seed)]
        assert config == run.config
        assert path == results.run_dir(chapter, profile, run.run_id)


def test_cli_rejects_a_seed_the_profile_does_not_train(capsys):
    assert cli.main(["train", "--chapter", "rcsf", "--profile", "cpu", "--run", "rcsf_m9",
                     "--training-seed", "7"]) == 2
    assert "no run 'rcsf_m9' on any dataset with seed 7" in capsys.readouterr().err


def test_engine_chapter_cli_and_notebook_agree(monkeypatch):
    seen = {}

    def fake_train(config, *, experiment, profile, run, progress=True, need_model=True):
        seen.update(config=config, path=results.run_dir(experiment, profile, run))
        return engine.TrainedRun(None, None, {}, seen["path"], {}, True)

    monkeypatch.setattr(engine, "load_or_train", fake_train)
    assert cli.main(["train", "--chapter", "engine", "--profile", "cpu"]) == 0
    notebook_cfg = load_profile("engine", "cpu", data={"data_root": None},
                                train={"seed": 0, "device": "auto"})
    assert seen["config"] == profiles.resolve_run(notebook_cfg, None)
    assert seen["path"] == results.run_dir("engine", "cpu", notebook_cfg["model"]["name"])


def test_rcsf_runs_and_seeds_per_group():
    cpu = study.study_runs(load_profile("rcsf", "cpu"))
    gpu = study.study_runs(load_profile("rcsf", "gpu"))
    assert len(cpu) == 6 * 2 + 2 + 2 and len(gpu) == 6 * 2 * 3 + 2 * 2 + 5  # cpu: STB only
    assert sorted(r.seed for r in gpu if r.run_id.startswith("STB-cpn101")) == [0, 1, 2]
    assert [r.seed for r in gpu if r.name == "rcsf_m9"] == [0]  # the sweep: first seed only
    assert {r.run_id for r in gpu if r.name == "rcsf"} == {
        f"{d}-rcsf{s}" for d in ("STB", "RHD") for s in ("", "-seed1", "-seed2")}


def test_families_write_a_model_override_once():
    cfg = load_profile("rcsf", "cpu")
    pyramid = cfg["families"]["pyramid"]["model"]
    for name in ("rcsf", "rcsf_m9", "rcsf_global_only", "cpn50"):
        config = profiles.resolve_run(cfg, name)
        assert {k: config["model"][k] for k in pyramid} == pyramid
    # a run's own setting wins over its family's
    assert profiles.resolve_run(cfg, "cpn101")["model"]["backbone_layers"] == [1, 1, 2, 1]
    assert profiles.resolve_run(cfg, "hrnet_w48")["model"]["width"] == 12
    assert profiles.resolve_run(cfg, "hrnet_w32")["model"]["width"] == 8


def test_unknown_family_and_run_sections_are_refused():
    cfg = {"model": {"name": "x"}, "families": {}, "runs": {"a": {"family": "wide"},
                                                           "b": {"modle": {}}}}
    with pytest.raises(ValueError, match="family 'wide'"):
        profiles.resolve_run(cfg, "a")
    with pytest.raises(ValueError, match="unknown section"):
        profiles.resolve_run(cfg, "b")
    with pytest.raises(ValueError, match="choose a run"):
        profiles.resolve_run(cfg, None)


def _spec(chapter):
    import yaml

    return yaml.safe_load(profiles.profile_files()[chapter].read_text())


TRAINING_CHAPTERS = [c for c in profiles.available_chapters() if profiles.trains(_spec(c))]


def test_engine_and_rcsf_are_training_chapters():
    assert {"engine", "rcsf"} <= set(TRAINING_CHAPTERS)


@pytest.mark.parametrize("chapter", TRAINING_CHAPTERS)
def test_every_profile_file_has_the_same_sections(chapter):
    spec = _spec(chapter)
    for part in [spec.get("common", {})] + list(spec.get("profiles", {}).values()):
        assert set(part or {}) <= set(profiles.SECTIONS)
    if "study" in spec.get("common", {}):
        assert "bench" not in spec["common"]["study"], "bench is a top-level section"


# ----------------------------------------------------------------------------- guards


def test_training_or_validating_on_the_test_split_is_refused():
    base = {"model": {"name": "resnet18"}}
    with pytest.raises(ValueError, match="never be trained on the data it is tested on"):
        engine.check_splits({**base, "train": {"split": "test"}})
    with pytest.raises(ValueError, match="must not see the test split"):
        engine.check_splits({**base, "eval": {"split": "rcsf_test", "test_split": "rcsf_test"}})
    with pytest.raises(ValueError, match="not a validation metric"):
        engine.check_splits({**base, "train": {"split": "val"}, "eval": {"split": "val"}})
    engine.check_splits(base)  # train / val / test: fine


@pytest.mark.parametrize("chapter", STUDY_CHAPTERS)
@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_no_profile_trains_or_validates_on_its_test_split(chapter, profile, tmp_path):
    data_root = paper_root(tmp_path, chapter) if profile == "paper" else None
    for run in notebook_runs(chapter, profile, data_root):
        engine.check_splits(run.config)


def test_load_or_train_refuses_the_test_split(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path))
    config = {"model": {"name": "resnet18"}, "train": {"split": "test"}}
    with pytest.raises(ValueError, match="test split"):
        engine.load_or_train(config, experiment="x", profile="smoke", run="r")


def test_a_gpu_profile_refuses_to_start_on_a_cpu_unless_the_device_is_explicit(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = load_profile("rcsf", "gpu")
    run = study.study_runs(config)[0]
    with pytest.raises(ValueError, match="expects a GPU"):
        engine.check_device(run.config)
    explicit = study.apply_parameters(load_profile("rcsf", "gpu"), device="cpu")
    engine.check_device(study.study_runs(explicit)[0].config)  # set explicitly: allowed
    engine.check_device(study.study_runs(load_profile("rcsf", "cpu"))[0].config)


def test_the_gpu_profile_on_a_cpu_fails_in_the_cli_with_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HANDLIB_RESULTS", str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main(["train", "--chapter", "rcsf", "--profile", "gpu", "--run", "rcsf"]) == 2
    err = capsys.readouterr().err
    assert "expects a GPU" in err and "--device cpu" in err


def test_loaders_never_start_more_workers_than_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert engine.usable_workers(8) == 2
    assert engine.usable_workers(1) == 1 and engine.usable_workers(0) == 0


# ----------------------------------------------------------------------------- data_root


def test_data_root_must_hold_the_dataset_folders(tmp_path):
    cfg = load_profile("rcsf", "paper")
    with pytest.raises(ValueError, match="set data_root to the folder that holds STB/"):
        study.apply_parameters(cfg)
    with pytest.raises(ValueError, match=r"lacks STB/, RHD_published_v2/.*holds STB/ \(STB\), "
                                         r"RHD_published_v2/ \(RHD\)"):
        study.apply_parameters(cfg, data_root=tmp_path)
    (tmp_path / "STB").mkdir()
    (tmp_path / "RHD_published_v2").mkdir()
    resolved = study.apply_parameters(cfg, data_root=tmp_path)
    run, = study.find_runs(resolved, "RHD", "rcsf", None)
    assert run.config["data"]["data_root"] == str(tmp_path / "RHD_published_v2")
    assert run.run_id == "RHD-rcsf"


def test_synthetic_profiles_refuse_a_data_root(tmp_path):
    with pytest.raises(ValueError, match="does not read data_root"):
        study.apply_parameters(load_profile("rcsf", "cpu"), data_root=tmp_path)


def test_seed_parameter_shifts_the_seeds_and_names_runs_alike():
    cfg = study.apply_parameters(load_profile("rcsf", "gpu"), seed=10)
    assert cfg["study"]["seeds"] == [10, 11, 12]
    ids = {r.run_id for r in study.study_runs(cfg) if r.name == "rcsf" and r.dataset == "STB"}
    assert ids == {"STB-rcsf", "STB-rcsf-seed11", "STB-rcsf-seed12"}


# ----------------------------------------------------------------------------- claim inputs


def _record(offset: float, n: int = 30) -> dict:
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 100, (n, 21, 2)).astype(np.float32)
    ones = np.ones((n, 21), bool)
    return {"index": np.arange(n), "kp2d": kp, "kp2d_pred": kp + np.float32(offset),
            "labelled": ones, "in_frame": ones, "visible": ones,
            "norm_size": np.full(n, 100.0, np.float32)}


def test_claim_inputs_compare_over_the_shared_seeds():
    cfg = load_profile("rcsf", "gpu")
    runs = study.study_runs(cfg)
    # ours over three seeds, the design variant (2) on the first seed only
    predictions = {r.run_id: _record(0.5 if r.name == "rcsf" else 3.0) for r in runs}
    found = study.Study(cfg, runs, predictions)
    claim = {"id": "c", "table": "4", "subject": "ours", "reference": "Models in (2)"}
    score = lambda p: float(np.mean(np.linalg.norm(p["kp2d_pred"] - p["kp2d"], axis=-1) <= 2.0))
    inputs = study.claim_inputs(found, claim, "RHD", score, samples=20)
    assert inputs["reproduced"] == {"ours": [1.0], "Models in (2)": [0.0]}
    main_claim = {"id": "m", "table": "3", "subject": "Ours", "reference": "CPN101"}
    main = study.claim_inputs(found, main_claim, "RHD", score, samples=20)
    assert main["reproduced"] == {"Ours": [1.0, 1.0, 1.0], "CPN101": [0.0, 0.0, 0.0]}
    assert "seeds [0, 1, 2]" in main["tested_on"]
    with pytest.raises(ValueError, match="do not include"):
        study.claim_inputs(found, {**claim, "reference": "HRNet-W48"}, "RHD", score)


def test_claim_inputs_name_only_the_runs_a_profile_did_not_train():
    cfg = load_profile("rcsf", "cpu")  # drops OHKM sweep points 13, 17 and 19
    runs = study.study_runs(cfg)
    found = study.Study(cfg, runs, {r.run_id: _record(0.5) for r in runs})
    claim = {"id": "c", "table": "5", "subject": 11, "reference": [9, 13, 15]}
    score = lambda p: float(np.mean(np.linalg.norm(p["kp2d_pred"] - p["kp2d"], axis=-1) <= 2.0))
    inputs = study.claim_inputs(found, claim, "STB", score, samples=20)
    assert inputs["reproduced"] == {11: [1.0], 9: [1.0], 13: [], 15: [1.0]}
    assert inputs["margin"] is None


def test_a_data_root_with_one_dataset_leaves_the_other_out_and_says_why(tmp_path):
    (tmp_path / "STB").mkdir()
    cfg = study.apply_parameters(load_profile("rcsf", "paper"), data_root=tmp_path)
    assert list(cfg["study"]["datasets"]) == ["STB"]
    assert study.missing_names(cfg) == {"RHD": f"RHD_published_v2/ is not under data_root {tmp_path}"}
    assert {run.run_id for run in study.study_runs(cfg) if run.name == "rcsf"} == {"STB-rcsf"}
    runs = study.study_runs(cfg)
    rcsf = study.Study(cfg, runs, {run.run_id: None for run in runs})
    assert rcsf.dataset_for("RHD") is None and rcsf.dataset_for("STB") == "STB"
    assert rcsf.absent("RHD").startswith("not run: RHD_published_v2/ is not under data_root")
    labels = study.run_labels(rcsf, "3")
    assert all(text.startswith("not run: RHD_published_v2/") for (d, _), text in labels.items()
               if d == "RHD")
    claim = next(c for c in papers.claims("rcsf") if c.get("table") == "3")
    inputs = study.claim_inputs(rcsf, claim, None, lambda record: 0.0)
    verdict = report.verdict_table([claim], {claim["id"]: inputs}).iloc[0]
    assert verdict["verdict"] == "inconclusive" and verdict["reason"].startswith("not run")
    assert verdict["tested on"] == "not run: absent from data_root (RHD)"
    with pytest.raises(ValueError, match="lacks STB/, RHD_published_v2/"):
        study.apply_parameters(load_profile("rcsf", "paper"), data_root=tmp_path / "empty")


def test_a_row_not_trained_on_this_profile_names_the_profile_and_command_that_train_it():
    # the cpu profile trains RCSF's design ablation on the RHD-like stand-in only; the gpu one on
    # both stand-ins
    assert study.training_command("rcsf", "STB", "rcsf_global_only", "cpu") == (
        "gpu", "handlib train --chapter rcsf --profile gpu --run rcsf_global_only --dataset STB")
    assert study.training_command("rcsf", "STB", "no_such_run", "cpu") is None


# ----------------------------------------------------------------------------- the gpu estimate

TOY_MODEL = {"name": "hrnet_w32", "width": 4, "blocks": 1, "modules": [1, 1, 1],
             "stem_channels": 8}


def toy_profile() -> dict:
    """Two tiny runs on one synthetic dataset: ``narrow`` and ``wide`` over two seeds in
    ``main``, ``wide`` again (first seed) in a sweep with a row it does not train."""
    return {
        "chapter": "toy", "profile": "gpu",
        "model": TOY_MODEL,
        "data": {"input_size": 32, "codec": {"name": "heatmap2d", "heatmap_size": 8},
                 "n": {"train": 10, "val": 4, "test": 3, "hard": 5}},
        "train": {"epochs": 3, "batch_size": 4},
        "eval": {"every": 2, "loss": True, "also_test_on": ["hard"]},
        "runs": {"narrow": {}, "wide": {"model": {"width": 6}}},
        "study": {"datasets": {"X": {}}, "seeds": [0, 1],
                  "groups": {"main": {"seeds": "all", "runs": {"N": "narrow", "W": "wide"}},
                             "sweep": {"runs": {"W": "wide", "dropped": None}}}},
    }


def toy_forward_gflops(width: int) -> float:
    """The counted forward GFLOPs of the toy model at ``width`` on a 32² image."""
    kwargs = {key: value for key, value in TOY_MODEL.items() if key != "name"}
    return bench.count(models.build(TOY_MODEL["name"], **{**kwargs, "width": width}), 32)["gflops"]


def test_the_estimate_is_three_forward_passes_per_training_sample_plus_the_predictions():
    forward = {width: toy_forward_gflops(width) for width in (4, 6)}
    # per run: 10 // 4 = 2 full batches of 4 over 3 epochs; the validation split (4) at epochs 2
    # and 3, twice each (eval.loss), and once after training; the test (3) and hard (5) splits once
    training, predicted = 2 * 4 * 3, (2 * 2 + 1) * 4 + 3 + 5
    runs = study.estimate_runs(toy_profile())
    assert list(runs.index) == ["narrow", "wide", "narrow-seed1", "wide-seed1"]
    assert list(runs["training samples"]) == [training] * 4
    assert list(runs["predicted samples"]) == [predicted] * 4
    assert list(runs["GFLOPs/sample"]) == pytest.approx([forward[4], forward[6]] * 2)

    estimate = study.training_estimate(toy_profile())
    flops = 2 * sum(forward.values()) * 1e9 * (3 * training + predicted)  # each width, 2 seeds
    assert estimate["runs"] == 4 and estimate["training samples"] == 4 * training
    assert estimate["training PFLOP"] * 1e15 == pytest.approx(
        2 * sum(forward.values()) * 1e9 * 3 * training)
    total = estimate["training PFLOP"] + estimate["prediction PFLOP"]
    assert total * 1e15 == pytest.approx(flops)
    assert estimate["H100 minutes"] == pytest.approx(
        flops / (bench.H100_SUSTAINED_TFLOPS * 1e12) / 60)
    assert estimate["costliest run"] == "wide" and 0.5 < estimate["costliest share"] < 1
    assert f"{bench.H100_SUSTAINED_TFLOPS:.0f} TFLOP/s" in estimate["text"]
    assert f"{estimate['H100 minutes']:.1f} minutes on one H100" in estimate["text"]


def test_the_estimate_names_a_split_without_a_sample_count():
    cfg = toy_profile()
    cfg["eval"]["also_test_on"] = ["occluded"]
    with pytest.raises(ValueError, match="run 'narrow': no sample count for split 'occluded'"):
        study.training_estimate(cfg)


def test_a_dataset_no_group_trains_on_is_not_run_rather_than_replaced():
    """A cheap profile keeping a dataset's stand-in but training nothing on it: the dataset is
    set aside as not run (its claims and figures say so) instead of the paper's dataset falling
    back to the profile's first one, whose runs would then answer claims about another dataset."""
    cfg = load_profile("msff", "gpu")
    cfg["study"]["groups"]["main"]["datasets"] = ["RHD"]
    cfg["study"]["groups"]["modules"]["datasets"] = ["RHD"]
    applied = study.apply_parameters(cfg)
    assert list(applied["study"]["datasets"]) == ["RHD"]
    assert applied["study"]["untrained"] == ["InterHand2.6M"]
    assert {r.dataset for r in study.study_runs(applied)} == {"RHD"}
    assert study.run_id(applied, "RHD", "msff", 0) == "RHD-msff"  # run folders keep their names
    found = study.Study(applied, [], {})
    assert found.dataset_for("InterHand2.6M") is None
    assert found.dataset_for("RHD") == "RHD"
    assert study.absent_text(found) == "not run: not trained on the gpu profile (InterHand2.6M)"
    assert found.absent("InterHand2.6M") == "not run: not trained on the gpu profile"
    every_dataset = study.apply_parameters(load_profile("msff", "gpu"))
    assert every_dataset["study"]["untrained"] == []


@pytest.mark.parametrize("chapter, oracle", [("rcsf", True), ("msff", True),
                                             ("internet_plus", True), ("resunet", True),
                                             ("crossinfonet", False)])
def test_the_data_of_an_rgb_chapter_names_its_true_box_crop(chapter, oracle):
    """RGB crops are cut around the hand's true box: every table and verdict naming the data
    says so (it did not); a depth chapter names its centre itself."""
    cfg = study.apply_parameters(load_profile(chapter, "cpu"))
    named = study.Study(cfg, [], {})
    for dataset in cfg["study"]["datasets"]:
        assert (study.RGB_CROP_ORACLE in named.tested_on(dataset)) is oracle, dataset
