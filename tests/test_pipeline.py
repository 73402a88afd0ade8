"""build_dataset: the training tensors every chapter consumes, from synthetic or real data."""
import numpy as np
import pytest
import torch

from handlib.codecs import geometry
from handlib.codecs.heatmap2d import decode_heatmaps
from handlib.data.pipeline import VISIBILITY_KINDS, build_dataset
from handlib.paths import shared_data_dir

SPEC = {"n": {"train": 6, "val": 4}, "input_size": 64,
        "codec": {"name": "heatmap2d", "heatmap_size": 16, "sigma": 1.5},
        "augment": {"rotation": 30, "scale": [0.8, 1.2], "shift": 0.05, "colour": 0.2}}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path))


def test_items_follow_the_contract():
    dataset = build_dataset(SPEC, "train")
    assert len(dataset) == 6
    item = dataset[2]
    shapes = {"image": (3, 64, 64), "kp2d": (21, 2), "visible": (21,), "in_frame": (21,),
              "heatmaps": (21, 16, 16), "target_weight": (21,), "norm_size": (), "index": (),
              "kp3d": (21, 3), "kp3d_rel": (21, 3), "root_depth_abs": (1,), "K": (3, 3),
              "labelled": (21,), "visibility_kind": (21,), "crop": (3, 3), "mirrored": ()}
    for key, shape in shapes.items():
        assert tuple(item[key].shape) == shape, key
    assert item["image"].dtype == torch.float32 and item["visible"].dtype == torch.bool
    assert item["index"].item() == 2 and item["norm_size"] > 0
    assert torch.equal(item["target_weight"] > 0, item["in_frame"])
    assert not (item["visible"] & ~item["in_frame"]).any()
    decoded, _ = decode_heatmaps(item["heatmaps"][None], 64)
    inside = item["in_frame"].numpy() & (item["kp2d"].numpy() > 6).all(1) & (
        item["kp2d"].numpy() < 58).all(1)
    assert np.abs(decoded[0][inside] - item["kp2d"].numpy()[inside]).max() < 1.0
    projected = item["kp3d"].numpy() @ item["K"].numpy().T
    np.testing.assert_allclose(projected[:, :2] / projected[:, 2:], item["kp2d"], atol=2e-3)


def test_crop_maps_the_samples_own_pixels_to_the_input_mirror_included():
    """``crop`` takes the source sample's pixels to the input's, so its inverse brings labels
    (and predictions) back; a mirrored left hand comes back where it was in its own image."""
    from handlib.data.synthetic import SyntheticHands

    dataset = build_dataset({**SPEC, "n": {"train": 12}, "augment": None}, "train")
    raw = SyntheticHands("train", 12, 64, framing="hand", crop_padding=1.3, modality="rgb")
    for i in range(12):
        item = {k: v.numpy() for k, v in dataset[i].items()}
        back = geometry.uncrop(item["kp2d"], item["crop"])
        np.testing.assert_allclose(back, raw[i]["kp2d"], atol=2e-3)
        assert bool(item["mirrored"]) == (raw[i]["side"] == "left")


def test_visibility_kinds_come_from_the_renderer():
    from handlib.data.synthetic import SyntheticHands

    dataset = build_dataset({**SPEC, "n": {"val": 4}, "augment": None}, "val")
    raw = SyntheticHands("val", 4, 64, framing="hand", crop_padding=1.3, modality="rgb")
    for i in range(4):
        codes = dataset[i]["visibility_kind"].numpy()
        words = raw[i]["meta"]["occlusion"]
        inside = dataset[i]["in_frame"].numpy()
        assert [VISIBILITY_KINDS[c] for c in codes[inside]] == list(np.asarray(words)[inside])
        assert ((codes == 0) == dataset[i]["visible"].numpy()).all()


def test_every_hand_comes_out_as_a_right_hand():
    dataset = build_dataset({**SPEC, "n": {"train": 12}}, "train")
    from handlib.data.hand_model import palm_normal
    from handlib.data.synthetic import SyntheticHands

    raw = SyntheticHands("train", 12, 64, framing="hand", crop_padding=1.3, modality="rgb")
    flags = [bool(dataset[i]["mirrored"]) for i in range(12)]
    assert flags == [raw[i]["side"] == "left" for i in range(12)] and any(flags)
    i = flags.index(True)
    np.testing.assert_allclose(palm_normal(dataset[i]["kp3d"].numpy(), "right"),
                               palm_normal(raw[i]["kp3d"], "left") * [-1, 1, 1], atol=1e-4)


def test_augmentation_is_reproducible_per_epoch_and_only_on_train():
    dataset = build_dataset(SPEC, "train", training=True)
    dataset.set_epoch(0)
    first = dataset[1]["kp2d"]
    assert torch.equal(first, dataset[1]["kp2d"])
    dataset.set_epoch(1)
    assert not torch.equal(first, dataset[1]["kp2d"])
    val = build_dataset(SPEC, "val")
    assert torch.equal(val[0]["kp2d"], val[0]["kp2d"]) and val.augment is None


def test_two_slot_codecs_put_each_hand_in_its_slot():
    spec = {**SPEC, "augment": None, "codec": {"name": "heatmap3d", "heatmap_size": 8,
                                                "depth_bins": 8}}
    two = build_dataset({**spec, "two_hands": True}, "val")[1]
    assert tuple(two["kp2d"].shape) == (42, 2) and tuple(two["hand_valid"].shape) == (2,)
    assert tuple(two["root_depth_abs"].shape) == (2,) and tuple(two["rel_root"].shape) == (3,)
    np.testing.assert_allclose(two["rel_root"], two["kp3d"][21] - two["kp3d"][0], atol=1e-4)
    one = build_dataset(spec, "val")
    from handlib.data.synthetic import SyntheticHands

    raw = SyntheticHands("val", 4, 64, framing="hand", crop_padding=1.3, modality="rgb")
    for i in range(4):
        item = one[i]
        slot = 0 if raw[i]["side"] == "right" else 1
        assert item["hand_valid"].tolist() == [slot == 0, slot == 1]
        assert item["labelled"][21 * slot: 21 * slot + 21].all()
        assert not item["labelled"][21 * (1 - slot): 21 * (2 - slot)].any()
        assert not bool(item["mirrored"])  # two-slot layouts keep the hand's own side


def test_a_two_hand_sample_with_a_one_hand_codec_is_refused():
    with pytest.raises(ValueError, match="one-hand codec"):
        build_dataset({**SPEC, "two_hands": True, "augment": None}, "val")[0]


def test_a_data_loader_batches_items():
    loader = torch.utils.data.DataLoader(build_dataset(SPEC, "train"), batch_size=3)
    batch = next(iter(loader))
    assert tuple(batch["image"].shape) == (3, 3, 64, 64)


@pytest.mark.parametrize("change, message", [
    ({"colour": 1}, "unknown data option"),
    ({"input_size": 0}, "input_size"),
    ({"input_size": 64, "codec": {"name": "heatmap2d", "heatmap_size": 24}}, "multiple"),
    ({"codec": {"name": "voxels"}}, "unknown codec"),
    ({"modality": "rgbd"}, "modality"),
    ({"source": "rhd"}, "data_root"),
    ({"n": {"train": 4}}, "no sample count for split 'val'"),
])
def test_bad_specs_raise_clear_errors(change, message):
    with pytest.raises(ValueError, match=message):
        build_dataset({**SPEC, **change}, "val")


SAMPLES = shared_data_dir() / "samples" / "mmpose_format" if shared_data_dir() else None


@pytest.mark.skipif(SAMPLES is None or not SAMPLES.is_dir(),
                    reason="real samples absent: ../shared/data/samples/mmpose_format")
def test_real_rhd_samples_go_through_the_same_pipeline():
    spec = {"source": "mmpose_coco", "data_root": str(SAMPLES), "input_size": 128,
            "codec": {"name": "heatmap2d", "heatmap_size": 32}}
    dataset = build_dataset(spec, "rhd_test")
    for i in range(len(dataset)):
        item = dataset[i]
        assert tuple(item["image"].shape) == (3, 128, 128) and item["norm_size"] > 20
        projected = item["kp3d"].numpy() @ item["K"].numpy().T
        np.testing.assert_allclose(projected[:, :2] / projected[:, 2:], item["kp2d"], atol=0.5)


def test_a_copy_too_small_for_its_validation_split_is_refused_before_training(tmp_path):
    from fake_rgb_datasets import write_rhd
    from handlib import engine
    from handlib.data.pipeline import check_splits_have_samples

    write_rhd(tmp_path / "RHD_published_v2", n_train=5, n_eval=2, size=64)
    spec = {"source": "rhd", "data_root": str(tmp_path / "RHD_published_v2")}
    check_splits_have_samples(spec, {"training": "rcsf_train", "test": "rcsf_test"})
    with pytest.raises(ValueError) as refused:
        check_splits_have_samples(spec, {"training": "rcsf_train", "validation": "rcsf_val"})
    message = str(refused.value)
    assert "the validation split 'rcsf_val' of Rendered Handpose Dataset (RHD)" in message
    assert "rcsf_train 5" in message and "rcsf_val 0" in message and "test 2" in message
    config = {"data": {**spec, "input_size": 32}, "train": {"split": "rcsf_train", "epochs": 1},
              "eval": {"split": "rcsf_val", "test_split": "rcsf_test"},
              "model": {"name": "simple_baseline_r50"}}
    with pytest.raises(ValueError, match="'rcsf_val'.*holds no samples"):
        engine.load_or_train(config, experiment="tiny", profile="paper", run="empty-val",
                             progress=False)
    assert not list((tmp_path).glob("**/checkpoints/*.pt"))


def test_a_synthetic_split_counted_zero_is_refused():
    from handlib.data.pipeline import check_splits_have_samples

    with pytest.raises(ValueError, match="set data.n.val to a positive count"):
        check_splits_have_samples({"n": {"train": 4, "val": 0}},
                                  {"training": "train", "validation": "val"})
