"""CrossInfoNet's runs as data (handlib/papers/crossinfonet/profiles.yaml): Table 1's four
variants on both datasets, validation never on the test split, MSRA's nine folds."""
from __future__ import annotations

import pytest

from handlib import engine
from handlib.data.pipeline import build_codec
from handlib.profiles import load_profile
from handlib.study import study_runs

TABLE_1 = {"Base": "crossinfonet_base", "Base+HM": "crossinfonet_base_hm",
           "Cross": "crossinfonet_cross", "Cross+HM": "crossinfonet"}


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu", "paper"])
def test_table_1_trains_its_four_variants_on_icvl_and_nyu(profile):
    cfg = load_profile("crossinfonet", profile)
    runs = study_runs(cfg)
    for dataset in ("ICVL", "NYU"):
        trained = {r.config["model"]["name"] for r in runs if r.dataset == dataset}
        assert set(TABLE_1.values()) <= trained
    group = cfg["study"]["groups"]["main"]["runs"]
    assert {label: cfg["runs"][name]["model"]["name"] for label, name in group.items()} == TABLE_1
    for run in runs:
        engine.check_splits(run.config)  # raises if validation or training touches the test split


def test_paper_profile_validates_on_a_held_out_part_and_runs_nine_msra_folds():
    runs = study_runs(load_profile("crossinfonet", "paper"))
    splits = {r.dataset: (r.config["train"]["split"], r.config["eval"]["split"],
                          r.config["eval"]["test_split"]) for r in runs}
    assert splits["ICVL"] == ("train_genuine:fit", "train_genuine:val", "test")  # Sec. 4.1
    assert splits["NYU"] == ("train:fit", "train:val", "test")
    folds = {d: s for d, s in splits.items() if d.startswith("MSRA")}
    assert folds == {f"MSRA-P{k}": (f"train_P{k}:fit", f"train_P{k}:val", f"test_P{k}")
                     for k in range(9)}
    msra = [r for r in runs if r.dataset.startswith("MSRA")]
    assert {r.config["model"]["name"] for r in msra} == {"crossinfonet"}
    assert {float(r.config["data"]["codec"]["cube_mm"]) for r in msra} == {175.0}


def test_paper_settings_reach_every_run():
    for run in study_runs(load_profile("crossinfonet", "paper")):
        config = engine.resolve_config(run.config)
        assert config["optimizer"] == {"name": "adam", "lr": 1.0e-3, "weight_decay": 1.0e-5}
        assert config["scheduler"] == {"name": "exponential", "gamma": 0.96}
        assert config["train"]["epochs"] == 110 and config["train"]["batch_size"] == 128
        assert config["loss"] == {"name": "crossinfonet", "alpha": 0.01, "beta": 1.0}
        assert config["data"]["augment"] == {"rotation": 180.0, "shift": 0.104,
                                             "scale": [0.9, 1.1]}
        assert config["model"]["dropout"] == 0.6


@pytest.mark.parametrize("profile", ["smoke", "cpu"])
def test_codec_subsets_are_the_models_palm_and_finger_joints(profile):
    from handlib.papers.crossinfonet.models import crossinfonet

    for run in study_runs(load_profile("crossinfonet", profile))[:1]:
        codec = build_codec(run.config["data"])
        model_kwargs = {k: v for k, v in run.config["model"].items() if k != "name"}
        model = crossinfonet(**model_kwargs)
        assert codec.subsets == {"palm": model.palm, "finger": model.finger}


def test_a_data_root_without_the_datasets_names_each_folder_once(tmp_path):
    from handlib.study import apply_parameters

    with pytest.raises(ValueError) as error:
        apply_parameters(load_profile("crossinfonet", "paper"), data_root=tmp_path)
    message = str(error.value)
    assert f"data_root {tmp_path} lacks ICVL/, NYU/, MSRA/:" in message
    assert "MSRA/ (MSRA-P0, MSRA-P1, MSRA-P2" in message and message.count("MSRA/") == 2
    # with NYU/ there, the others are left out, each with its folder as the reason
    (tmp_path / "NYU").mkdir()
    cfg = apply_parameters(load_profile("crossinfonet", "paper"), data_root=tmp_path)
    assert list(cfg["study"]["datasets"]) == ["NYU"]
    assert cfg["study"]["absent"]["MSRA-P8"] == f"MSRA/ is not under data_root {tmp_path}"


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu", "paper"])
def test_every_run_crops_without_reading_labels_but_the_named_oracle(profile):
    """The crop centre: from the depth frame (MSRA, the stand-ins), V2V-PoseNet's published
    centres with the depth fallback (real ICVL and NYU); the labels' mean (an oracle) only for the
    oracle group's run, one seed on ICVL and NYU (NYU only on the cpu profile, for its time)."""
    cfg = load_profile("crossinfonet", profile)
    runs = study_runs(cfg)
    centres = {(r.dataset, r.name): build_codec(r.config["data"]).centre_source for r in runs}
    oracle = {key for key, centre in centres.items() if centre == "labels"}
    on = ["NYU"] if profile == "cpu" else ["ICVL", "NYU"]
    assert oracle == {(dataset, "cross_hm_oracle") for dataset in on}
    honest = {centre for key, centre in centres.items() if key not in oracle}
    if profile == "paper":
        assert {centres[(d, "cross_hm")] for d in ("ICVL", "NYU")} == {"file"}
        assert all(build_codec(r.config["data"]).fallback == "depth" for r in runs
                   if r.dataset in ("ICVL", "NYU"))
        assert {c for (d, _), c in centres.items() if d.startswith("MSRA")} == {"depth"}
    else:
        assert honest == {"depth"}
    assert len([r for r in runs if r.name == "cross_hm_oracle"]) == len(on)


def test_the_cpu_profile_gives_every_model_comparison_a_seed_spread():
    """Every claim on the runs compares models, and a verdict between models needs the
    seed-to-seed spread: Table 1's variants on two seeds; each ablation is compared with
    Cross+HM, whose two seeds give the spread (the ablations train the first seed, for time)."""
    cfg = load_profile("crossinfonet", "cpu")
    seeds = {}
    for run in study_runs(cfg):
        seeds.setdefault((run.dataset, run.name), set()).add(run.config["train"]["seed"])
    groups = cfg["study"]["groups"]
    assert {len(seeds[(d, name)]) for d in ("ICVL", "NYU")
            for name in groups["main"]["runs"].values()} == {2}
    assert {len(s) for (d, name), s in seeds.items()
            if name in groups["ablations"]["runs"].values() and name != "cross_hm"} == {1}
    assert "Cross+HM" in groups["ablations"]["runs"]
