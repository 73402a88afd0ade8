"""Dataset presets of the synthetic engine: their mechanics, and each preset that has real files in
../shared/data checked against them (hand box in pixels, hand depth, 3D bone proportions).

Bands, stated once: a real statistic's median must lie inside the preset's 5th-95th percentile and
the preset's median within MEDIAN_TOLERANCE of the real one; for the public ICVL/NYU test labels
(thousands of frames) the real 5th and 95th percentiles must lie inside the preset's 1st-99th.
"""
from pathlib import Path

import numpy as np
import pytest

from handlib.data import preset_check, presets, synthetic
from handlib.data.pipeline import build_dataset
from handlib.data.stats import bone_ratios
from handlib.paths import shared_data_dir

PRESET_SAMPLES = 400
MEDIAN_TOLERANCE = {"box_px": 0.35, "depth_mm": 0.15, "bone_ratio": 0.25}
#: Bones left out of the band, by dataset: InterHand2.6M's middle and ring MCP->PIP are about 1.3x
#: the engine's (and RHD's) relative to the palm, a labelling convention of its own that the
#: engine's one skeleton does not model; checked to stay that way round.
KNOWN_BONE_DIFFERENCES = {"rhd_like": (),
                          "interhand_like": ("middle_MCP-middle_PIP", "ring_MCP-ring_PIP")}


def assert_matches(statistic: str, preset: np.ndarray, real: np.ndarray) -> None:
    low, high = np.percentile(preset, [5, 95])
    real_median, preset_median = np.median(real), np.median(preset)
    assert low <= real_median <= high, (statistic, real_median, low, high)
    assert abs(preset_median / real_median - 1) <= MEDIAN_TOLERANCE[statistic], (
        statistic, preset_median, real_median)


def assert_bone_ratios_match(name: str, preset3d: np.ndarray, real3d: np.ndarray) -> None:
    ratio = bone_ratios(preset3d).median() / bone_ratios(real3d).median()
    known = list(KNOWN_BONE_DIFFERENCES[name])
    checked = ratio.drop(known)
    assert ((checked - 1).abs() <= MEDIAN_TOLERANCE["bone_ratio"]).all(), ratio.round(2).to_dict()
    assert (ratio[known] < 0.85).all(), ratio[known].round(2).to_dict()


def real_or_skip(name: str) -> dict:
    shared = shared_data_dir()
    found = preset_check.real_statistics(name, shared) if shared is not None else None
    if found is None:
        pytest.skip(f"the real files behind {name} ({preset_check.REAL_FILES[name][1]}/"
                    f"{preset_check.REAL_FILES[name][2]} in ../shared/data) are not on this machine")
    return found


# ------------------------------------------------------------------------------ mechanics
def test_a_preset_sits_under_the_split_defaults_and_the_explicit_options():
    stb = synthetic.make_params("train", 64, preset="stb_like")
    assert (stb.subjects, stb.backgrounds, stb.occluder_prob) == (1, 6, 0.0)
    assert stb.image_size == 64 and stb.preset == "stb_like"  # the caller's size wins
    assert synthetic.make_params("hard", 64, preset="stb_like").occluder_prob == 1.0
    assert synthetic.make_params("train", 64, preset="stb_like", subjects=3).subjects == 3
    with pytest.raises(ValueError, match="unknown synthetic preset 'stb'.*stb_like"):
        synthetic.make_params("train", 64, preset="stb")


def test_every_preset_builds_and_names_a_source_for_every_option():
    for name, preset in presets.PRESETS.items():
        params = preset_check.scene_params(name)
        assert params.image_size == preset.image_size
        documented = {part.strip() for key in preset.sources for part in key.split(",")}
        undocumented = set(preset.options) - documented - {"image_size", "modality", "framing"}
        assert not undocumented, (name, undocumented)


def test_the_view_cone_bounds_the_angle_between_the_hand_and_the_camera():
    params = synthetic.make_params("test", 64, view_cone_deg=30.0, roll_deg=0.0, back_prob=0.0)
    for index in range(40):
        scene = synthetic.sample_scene(params, synthetic.sample_rng(0, "test", index))
        rotation = scene["hands"][0]["rotation"]
        palmar = rotation @ np.array([0.0, 0.0, 1.0])  # the hand frame's z is palmar
        assert np.degrees(np.arccos(-palmar[2])) <= 30.0 + 1e-6  # towards the camera: -z
        fingers = rotation @ np.array([0.0, 1.0, 0.0])
        assert fingers[1] < 0  # with no roll the fingers point up the image (-y)
    backs = synthetic.make_params("test", 64, view_cone_deg=10.0, back_prob=1.0)
    scene = synthetic.sample_scene(backs, synthetic.sample_rng(0, "test", 0))
    assert (scene["hands"][0]["rotation"] @ np.array([0.0, 0.0, 1.0]))[2] > 0.9  # palm away


def test_one_subject_is_one_hand_shape_and_skin_and_backgrounds_come_from_the_pool():
    params = synthetic.make_params("train", 64, subjects=1, backgrounds=2)
    scenes = [synthetic.sample_scene(params, synthetic.sample_rng(0, split, index))
              for split in ("train", "test") for index in range(12)]
    lengths = {h["shape"]["hand_length_mm"] for s in scenes for h in s["hands"]}
    assert len(lengths) == 1
    assert len({tuple(s["background"]["gradient"]) for s in scenes}) == 2
    free = synthetic.make_params("train", 64)
    scenes = [synthetic.sample_scene(free, synthetic.sample_rng(0, "train", i)) for i in range(6)]
    assert len({h["shape"]["hand_length_mm"] for s in scenes for h in s["hands"]}) == 6


def test_single_hand_frames_of_a_two_hand_dataset_leave_the_other_slot_unlabelled():
    data = synthetic.SyntheticHands("test", 16, 32, two_hands=True, single_prob=0.5,
                                    framing="hand")
    placements = [data[i]["meta"]["placement"] for i in range(16)]
    assert "single" in placements and set(placements) - {"single"}
    for i, placement in enumerate(placements):
        sample = data[i]
        assert sample["kp2d"].shape == (2, 21, 2) and list(sample["side"]) == ["right", "left"]
        if placement == "single":
            absent = int(np.flatnonzero(~sample["labelled"].any(axis=1))[0])
            assert not sample["hand_valid"][absent] and not sample["visible"][absent].any()
            assert np.isnan(sample["kp3d"][absent]).all()
            assert sample["meta"]["occlusion"][absent] == ["unannotated"] * 21
        else:
            assert sample["labelled"].all()
    two = synthetic.SyntheticHands("test", 4, 32, two_hands=True, framing="hand")
    assert all(two[i]["meta"]["placement"] != "single" for i in range(4))  # single_prob 0


def test_a_plain_background_is_dark_and_nearly_uniform():
    sample = synthetic.SyntheticHands("test", 2, 64, plain_background=True, occluder_prob=0.0,
                                      framing="hand", crop_padding=3.0)[0]
    background = sample["image"][sample["mask"] == 0].astype(float)
    assert background.mean() < 0.3 * 255 and background.std() < 0.05 * 255


def test_the_pipeline_refuses_a_two_hand_preset_on_a_one_hand_spec():
    spec = {"n": {"train": 4}, "input_size": 32, "synthetic": {"preset": "interhand_like"},
            "codec": {"name": "heatmap2d", "heatmap_size": 8, "sigma": 1.0}}
    with pytest.raises(ValueError, match="set data.two_hands: true"):
        build_dataset(spec, "train")


def test_a_cold_cache_filled_by_two_processes_holds_what_one_process_renders(tmp_path,
                                                                             monkeypatch):
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path))
    parallel = synthetic.SyntheticHands("train", 12, 32, cache=True, shard_size=4,
                                        preset="rhd_like")
    parallel.fill_cache(workers=2)
    assert len(list((tmp_path / "synthetic").glob("*/*/records.json"))) == 3
    serial = synthetic.SyntheticHands("train", 12, 32, preset="rhd_like")
    for index in (0, 5, 11):
        np.testing.assert_array_equal(parallel[index]["image"], serial[index]["image"])
        assert parallel[index]["meta"]["preset"] == "rhd_like"


# ------------------------------------------------------------------------------ real files
@pytest.mark.parametrize("name", ["rhd_like", "interhand_like", "freihand_like"])
def test_rgb_presets_match_their_real_samples(name):
    real, ours = real_or_skip(name), preset_check.preset_statistics(name, PRESET_SAMPLES)
    for statistic in ("box_px", "depth_mm"):
        if statistic in real:  # FreiHAND's MMPose conversion has no 3D
            assert_matches(statistic, ours[statistic], real[statistic])
    if "kp3d" in real:
        assert_bone_ratios_match(name, ours["kp3d"], real["kp3d"])


def test_the_interhand_preset_mixes_single_and_two_hand_frames_like_its_samples():
    assert len(real_or_skip("interhand_like")["box_px"]) > 4  # several frames hold two hands
    hands_per_frame = np.bincount(preset_check.scene_geometry("interhand_like", 200)["frame"])
    assert set(hands_per_frame) == {1, 2}
    assert 0.35 < np.mean(hands_per_frame == 1) < 0.65  # single_prob 0.5


@pytest.mark.parametrize("name", ["nyu_like", "icvl_like"])
def test_depth_presets_match_the_public_test_labels(name):
    real, ours = real_or_skip(name), preset_check.preset_statistics(name, PRESET_SAMPLES)
    for statistic in ("box_px", "depth_mm"):
        assert_matches(statistic, ours[statistic], real[statistic])
        low, high = np.percentile(ours[statistic], [1, 99])
        real_low, real_high = np.percentile(real[statistic], [5, 95])
        assert low <= real_low and real_high <= high, (statistic, real_low, real_high, low, high)
    assert presets.get(name).num_joints == preset_check.REAL_FILES[name][3]


def test_a_preset_without_real_files_says_which_have_them():
    with pytest.raises(ValueError, match="stb_like.*no real files.*rhd_like"):
        preset_check.real_statistics("stb_like", Path("."))


def test_the_comparison_table_has_a_row_per_real_statistic():
    if shared_data_dir() is None:
        pytest.skip("no shared data folder on this machine")
    table = preset_check.comparison_table(shared_data_dir(), n=50)
    assert set(table.index.get_level_values("preset")) <= set(preset_check.REAL_FILES)
    assert table.loc[("nyu_like", "box_px"), "real hands"] == 8252


def test_single_hand_frames_train_only_their_hand_through_the_heatmap3d_codec(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path))
    spec = {"n": {"train": 4}, "input_size": 32, "two_hands": True,
            "synthetic": {"single_prob": 1.0},
            "codec": {"name": "heatmap3d", "heatmap_size": 8, "depth_bins": 8, "sigma": 1.0}}
    item = build_dataset(spec, "train")[0]
    present = item["hand_type"].numpy().astype(bool)
    assert present.sum() == 1  # one hand type set, as InterHand2.6M's single-hand frames
    weight = item["joint_weight"].numpy().reshape(2, 21)
    assert weight[~present].sum() == 0 and weight[present].sum() > 0
    assert item["root_depth_weight"] == 0  # no relative root depth without the second hand
