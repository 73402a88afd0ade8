"""The synthetic hand engine: determinism, exact labels, visibility, splits, errors, CLI."""
import json

import numpy as np
import pytest

from handlib.cli import main
from handlib.data import hand_model, synthetic
from handlib.data.synthetic import OWN_PARTS, SECOND_HAND_OFFSET, SyntheticHands, project
from handlib.skeleton import JOINT_NAMES, NUM_JOINTS, finger_joints

FLAT = np.zeros(len(hand_model.ANGLE_NAMES))
PALM_TO_CAMERA = np.array([[1, 0, 0], [0, -1, 0], [0, 0, -1.0]])  # fingers up, palm to camera
RADIAL_SIDE_TO_CAMERA = np.array([[0, 0, -1], [0, -1, 0], [-1, 0, 0.0]])


def _arrays_equal(a: dict, b: dict) -> bool:
    keys = [k for k in a if isinstance(a[k], np.ndarray)]
    return set(keys) == {k for k in b if isinstance(b[k], np.ndarray)} and all(
        np.array_equal(a[k], b[k]) for k in keys)


def test_same_seed_and_index_give_identical_samples():
    first = SyntheticHands("train", 10, 64, seed=3)
    second = SyntheticHands("train", 10, 64, seed=3)
    for i in (0, 7):
        assert _arrays_equal(first[i], second[i])
        assert first[i]["meta"] == second[i]["meta"]
    assert not np.array_equal(first[0]["kp3d"], first[1]["kp3d"])
    assert not np.array_equal(first[0]["kp3d"], SyntheticHands("train", 10, 64, seed=4)[0]["kp3d"])


def test_a_batch_renders_exactly_the_samples_rendered_one_by_one():
    data = SyntheticHands("test", 10, 64, two_hands=True)
    batch = data.batch([2, 3, 4])
    for sample, index in zip(batch, (2, 3, 4)):
        assert _arrays_equal(sample, data[index])


@pytest.mark.parametrize("options", [{}, {"framing": "hand"}, {"two_hands": True}])
def test_kp2d_is_the_projection_of_kp3d_with_K(options):
    data = SyntheticHands("val", 6, 96, **options)
    for sample in data:
        np.testing.assert_allclose(project(sample["K"], sample["kp3d"]), sample["kp2d"],
                                   atol=2e-3)
        assert sample["image"].shape == (96, 96, 3) and sample["image"].dtype == np.uint8
        assert sample["depth"].shape == (96, 96) and sample["mask"].dtype == np.int8


def test_visible_joints_lie_on_their_own_part_of_their_own_hand():
    checked = 0
    for two in (False, True):
        data = SyntheticHands("train", 25, 96, two_hands=two, occluder_prob=0.5)
        for sample in data:
            kp2d = np.reshape(sample["kp2d"], (-1, NUM_JOINTS, 2))
            visible = np.reshape(sample["visible"], (-1, NUM_JOINTS))
            for hand, (kp, vis) in enumerate(zip(kp2d, visible)):
                for j in np.flatnonzero(vis):
                    part = sample["mask"][int(kp[j, 1]), int(kp[j, 0])]
                    own = [p + SECOND_HAND_OFFSET * hand for p in OWN_PARTS[j]]
                    assert part in own, (sample["meta"]["id"], JOINT_NAMES[j], part)
                    checked += 1
    assert checked > 500


def test_visible_joints_have_their_depth_in_the_depth_map():
    for sample in SyntheticHands("train", 10, 96, framing="hand"):
        for j in np.flatnonzero(sample["visible"]):
            x, y = sample["kp2d"][j].astype(int)
            # the surface seen is the joint's sphere or its own part, at most ~2 radii in front
            assert sample["kp3d"][j, 2] - 30 < sample["depth"][y, x] <= sample["kp3d"][j, 2] + 1


def test_open_hand_facing_the_camera_shows_every_joint_with_the_thumb_on_the_right():
    right = synthetic.render_pose(FLAT, PALM_TO_CAMERA, framing="hand")
    assert right["visible"].all()
    assert right["kp2d"][finger_joints("thumb")[3], 0] > right["kp2d"][finger_joints("little")[3], 0]
    left = synthetic.render_pose(FLAT, PALM_TO_CAMERA, side="left", framing="hand")
    assert left["kp2d"][finger_joints("thumb")[3], 0] < left["kp2d"][finger_joints("little")[3], 0]


def test_fingers_behind_another_finger_are_self_occluded():
    sample = synthetic.render_pose(FLAT, RADIAL_SIDE_TO_CAMERA, framing="hand")
    kinds = dict(zip(JOINT_NAMES, sample["meta"]["occlusion"]))
    for name in ("index_PIP", "index_DIP", "index_TIP"):
        assert kinds[name] == "visible"  # the index finger is nearest to the camera
    for name in ("ring_PIP", "ring_DIP", "little_PIP", "little_DIP"):
        assert kinds[name] == "self"


def test_an_object_in_front_of_a_fingertip_occludes_only_what_it_covers():
    clear = synthetic.render_pose(FLAT, PALM_TO_CAMERA, framing="hand")
    tip = clear["kp3d"][finger_joints("index")[3]]
    ball = synthetic.make_object("ball", [tip - [0, 0, 60]] * 2, radius=12)
    sample = synthetic.render_pose(FLAT, PALM_TO_CAMERA, objects=[ball], framing="hand")
    kinds = dict(zip(JOINT_NAMES, sample["meta"]["occlusion"]))
    assert kinds["index_TIP"] == "object"
    assert kinds["wrist"] == kinds["little_TIP"] == kinds["thumb_TIP"] == "visible"
    assert (sample["mask"] == synthetic.OBJECT).any()


def test_joints_outside_the_image_are_out_of_frame():
    sample = synthetic.render_pose(FLAT, PALM_TO_CAMERA, position_mm=(150, 0, 300))
    kinds = np.array(sample["meta"]["occlusion"])
    outside = (sample["kp2d"] < 0).any(-1) | (sample["kp2d"] >= 128).any(-1)
    assert outside.any() and (kinds[outside] == "out_of_frame").all()
    assert not sample["visible"][outside].any()


def test_splits_come_from_disjoint_streams():
    seen = {}
    for split in synthetic.SPLITS:
        for i in range(15):
            key = synthetic.sample_rng(0, split, i).random(4).tobytes()
            assert key not in seen, (split, i, seen.get(key))
            seen[key] = (split, i)
    train, val = SyntheticHands("train", 3, 64), SyntheticHands("val", 3, 64)
    assert not np.array_equal(train[0]["kp3d"], val[0]["kp3d"])


def _hidden_fraction(split: str) -> float:
    data = SyntheticHands(split, 30, 64, modality="depth")
    return float(np.mean([~s["visible"] for s in data]))


def test_the_hard_split_hides_more_joints_than_the_test_split():
    assert _hidden_fraction("hard") > _hidden_fraction("test") + 0.1


def test_two_hand_layout():
    sample = SyntheticHands("train", 4, 96, two_hands=True)[1]
    assert sample["kp2d"].shape == (2, 21, 2) and sample["kp3d"].shape == (2, 21, 3)
    assert sample["visible"].shape == (2, 21) and sample["bbox"].shape == (2, 4)
    assert list(sample["side"]) == ["right", "left"] and sample["hand_valid"].shape == (2,)
    assert sample["meta"]["placement"] in ("interacting", "separate")
    assert len(sample["meta"]["occlusion"]) == 2


def test_poses_stay_within_their_limits_and_hands_within_their_sizes():
    rng = np.random.default_rng(0)
    low, high = hand_model.ANGLE_LIMITS_DEG.T
    for family in hand_model.FAMILY_NAMES:
        pose = hand_model.sample_pose(rng, family)
        assert ((pose >= low) & (pose <= high)).all()
    lengths = [hand_model.sample_shape(rng, (160, 210))["hand_length_mm"] for _ in range(50)]
    assert 150 < min(lengths) and max(lengths) < 220


def test_cached_samples_equal_freshly_rendered_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path))
    cached = SyntheticHands("val", 5, 64, cache=True, shard_size=3)
    fresh = SyntheticHands("val", 5, 64)
    for i in (4, 0, 2):
        sample = cached[i]
        assert _arrays_equal(sample, fresh[i]) and sample["meta"] == fresh[i]["meta"]
    other = SyntheticHands("val", 5, 64, cache=True, shard_size=3, occluder_prob=0.9)
    other[0]
    assert len(list((tmp_path / "synthetic").iterdir())) == 2  # parameters change the key


@pytest.mark.parametrize("kwargs, message", [
    ({"image_size": 0}, "image_size"),
    ({"occluder_prob": 1.5}, "occluder_prob"),
    ({"occluder_prob": -0.1}, "occluder_prob"),
    ({"n": 0}, "n=0"),
    ({"colour": "red"}, "unknown synthetic-hand option"),
    ({"split": "training"}, "unknown synthetic split"),
    ({"framing": "tight"}, "framing"),
    ({"distance_mm": (500, 300)}, "distance_mm"),
])
def test_bad_parameters_raise_clear_errors(kwargs, message):
    args = {"split": "train", "n": 4, "image_size": 64, **kwargs}
    with pytest.raises(ValueError, match=message):
        SyntheticHands(**args)


def test_synth_command_writes_samples_and_a_preview(tmp_path):
    assert main(["synth", "--split", "test", "--n", "2", "--size", "64", "--two-hands",
                 "--occluders", "1", "--out", str(tmp_path)]) == 0
    with np.load(tmp_path / "000001.npz") as saved:
        meta = json.loads(str(saved["meta"]))
        assert saved["kp2d"].shape == (2, 21, 2) and saved["image"].shape == (64, 64, 3)
    assert meta["id"] == "test/0000001" and meta["objects"]
    assert (tmp_path / "preview.png").stat().st_size > 0


def test_bench_data_reports_every_case():
    from handlib.data.synthetic_cli import BENCH_CASES, benchmark

    results = benchmark(seconds=0.01)
    assert len(results) == len(BENCH_CASES) == 8
    assert all(r["samples_per_s"] > 0 for r in results)
    assert {r["workers"] for r in results} == {synthetic.generation_workers()}
    with pytest.raises(ValueError, match="--workers must be at least 1"):
        benchmark(seconds=0.01, workers=0)


def test_interacting_hands_overlap_in_the_image_and_hide_each_other():
    data = SyntheticHands("test", 24, 64, two_hands=True, interacting_prob=1.0, framing="hand")
    other_hand = 0
    for i in range(24):
        sample = data[i]
        assert sample["meta"]["placement"] == "interacting"
        right, left = sample["kp2d"]
        assert (right.min(0) < left.max(0)).all() and (left.min(0) < right.max(0)).all()
        other_hand += sum(kind == "other_hand" for hand in sample["meta"]["occlusion"]
                          for kind in hand)
    assert other_hand > 24  # inter-hand occlusion is labelled per joint
    apart = SyntheticHands("test", 8, 64, two_hands=True, interacting_prob=0.0, framing="hand")
    assert all(apart[i]["meta"]["placement"] == "separate" for i in range(8))


def test_a_data_spec_names_the_samples_its_dataset_reads():
    """``SyntheticHands.from_data_spec`` (the pre-fill's view of a run's data) gives the source
    ``build_dataset`` reads: same parameters, count and cache folder; a preset with the wrong
    number of hands is refused."""
    from handlib.data.pipeline import build_dataset, resolve_spec

    spec = {"n": {"train": 3}, "input_size": 32, "modality": "depth", "seed": 2,
            "synthetic": {"preset": "nyu_like", "image_size": 48}}
    source = SyntheticHands.from_data_spec(resolve_spec(spec), "train")
    built = build_dataset(spec, "train").source
    assert (source.params, source.n, source.seed) == (built.params, built.n, built.seed)
    assert source.params.image_size == 48 and source.cache.folder == built.cache.folder
    with pytest.raises(ValueError, match="preset 'interhand_like' has two hands per frame"):
        SyntheticHands.from_data_spec(resolve_spec(
            {**spec, "synthetic": {"preset": "interhand_like"}}), "train")
