"""Zimmermann & Brox's PoseNet + PosePrior, MS-FF's "PoseNet(2017)" baseline
(handlib.papers.msff.posenet on the scoremap_lift codec): the codec's round trip on hand-made
labels with known answers, the model's wiring (the 3D outputs read only the final score maps,
each hand slot only its own), a tiny training through the engine, and the clear errors."""
import numpy as np
import pytest
import torch

from handlib import codecs, engine, losses, metrics, models
from handlib.codecs.scoremap_lift import ALIGN_JOINT, ROTATION_JOINT, scale_bone_length
from handlib.data.pipeline import build_dataset
from handlib.papers.msff.posenet import compose
from handlib.skeleton import NUM_JOINTS, WRIST

INPUT, GRID = 128, 32
TINY = {"width": 8, "stages": 2}


def hand_made_item(left_present: bool = True) -> dict:
    """Two hands with 2D joints away from the crop's borders and 3D joints in camera mm (a
    random pose, fixed seed); the left hand absent (NaN 3D, unlabelled) unless asked for."""
    rng = np.random.default_rng(0)
    kp2d = rng.uniform(20, INPUT - 20, (2 * NUM_JOINTS, 2)).astype(np.float32)
    kp3d = (rng.normal(0, 40, (2, NUM_JOINTS, 3)) + [[[0, 0, 500]], [[60, 0, 520]]])
    labelled = np.ones(2 * NUM_JOINTS, bool)
    hand_valid = np.array([True, left_present])
    if not left_present:
        kp3d[1] = np.nan
        labelled[NUM_JOINTS:] = False
    return {"kp2d": kp2d, "labelled": labelled, "in_frame": np.ones(2 * NUM_JOINTS, bool),
            "hand_valid": hand_valid, "kp3d": kp3d.reshape(-1, 3).astype(np.float32)}


def codec():
    return codecs.build({"name": "scoremap_lift", "input_size": INPUT, "heatmap_size": GRID})


def batch_of(item: dict) -> dict:
    return {key: torch.as_tensor(value)[None] for key, value in item.items()}


def test_the_targets_are_scale_normalised_wrist_relative_poses_in_z_and_b_s_canonical_frame():
    targets = codec().encode(hand_made_item())
    hands = targets["kp3d_norm"].reshape(2, NUM_JOINTS, 3)
    np.testing.assert_allclose(hands[:, WRIST], 0.0, atol=1e-6)
    np.testing.assert_allclose(scale_bone_length(hands), 1.0, atol=1e-5)
    canonical = targets["kp3d_canonical"].reshape(2, NUM_JOINTS, 3)
    np.testing.assert_allclose(canonical[:, ALIGN_JOINT], [[0, -1, 0]] * 2, atol=1e-5)
    assert np.allclose(canonical[:, ROTATION_JOINT, 2], 0, atol=1e-5)
    assert (canonical[:, ROTATION_JOINT, 0] > 0).all()
    # the rotation keeps the hand's shape; the right hand is mirrored in z, the left is not
    mirror = np.array([1.0, 1.0, -1.0])
    np.testing.assert_allclose(canonical[0] * mirror @ targets["viewpoint"][0], hands[0],
                               atol=1e-5)
    np.testing.assert_allclose(canonical[1] @ targets["viewpoint"][1], hands[1], atol=1e-5)
    for rotation in targets["viewpoint"]:
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-5)
        assert np.isclose(np.linalg.det(rotation), 1.0, atol=1e-5)
    assert targets["kp3d_weight"].all() and targets["viewpoint_weight"].all()
    assert targets["heatmaps"].shape == (2 * NUM_JOINTS, GRID, GRID)


def test_encode_then_decode_recovers_the_2d_joints_and_the_wrist_relative_3d_at_gt_scale():
    item = hand_made_item()
    targets = codec().encode(item)
    composed = compose(torch.as_tensor(targets["kp3d_canonical"]).reshape(1, 2, NUM_JOINTS, 3),
                       torch.as_tensor(targets["viewpoint"])[None])
    outputs = {"heatmaps": torch.as_tensor(targets["heatmaps"])[None],
               "kp3d_norm": composed.reshape(1, -1, 3)}
    found = codec().decode_crop(outputs, batch_of(item))
    np.testing.assert_allclose(found["kp2d"][0], item["kp2d"], atol=2e-3)
    assert (found["confidence"] > 0.9).all()  # the peak cell of a Gaussian of peak 1
    hands = item["kp3d"].reshape(2, NUM_JOINTS, 3)
    truth = (hands - hands[:, WRIST:WRIST + 1]).reshape(-1, 3)
    np.testing.assert_allclose(found["kp3d_rel"][0], truth, atol=1e-3)


def test_an_absent_hand_has_no_targets_and_no_scale_to_decode_with():
    item = hand_made_item(left_present=False)
    targets = codec().encode(item)
    assert targets["target_weight"][NUM_JOINTS:].sum() == 0
    assert targets["heatmaps"][NUM_JOINTS:].max() == 0
    assert targets["kp3d_weight"][NUM_JOINTS:].sum() == 0
    assert targets["viewpoint_weight"].tolist() == [1.0, 0.0]
    assert np.isfinite(targets["kp3d_canonical"]).all() and np.isfinite(targets["viewpoint"]).all()
    outputs = {"heatmaps": torch.as_tensor(targets["heatmaps"])[None],
               "kp3d_norm": torch.as_tensor(targets["kp3d_norm"])[None]}
    found = codec().decode_crop(outputs, batch_of(item))["kp3d_rel"][0]
    assert np.isfinite(found[:NUM_JOINTS]).all() and np.isnan(found[NUM_JOINTS:]).all()


def tiny_model(variant: str = "proposed"):
    torch.manual_seed(0)
    return models.build("zb_posenet", **TINY, variant=variant).eval()


def test_both_outputs_respond_to_the_image_and_the_3d_reads_only_the_final_score_maps():
    model = tiny_model()
    image = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    moved = image.clone()
    moved[:, :, 8:24, 8:24] += 1.0
    with torch.no_grad():
        base, shifted = model(image), model(moved)
        assert base["heatmap_stages"].shape == (1, 2, 42, 8, 8)
        assert torch.equal(base["heatmaps"], base["heatmap_stages"][:, -1])
        assert not torch.allclose(base["heatmaps"], shifted["heatmaps"])
        assert not torch.allclose(base["kp3d_norm"], shifted["kp3d_norm"])
        # the 3D outputs are the lifting of the final score maps ...
        lifted = model.lift(base["heatmaps"])
        assert all(torch.allclose(lifted[key], base[key]) for key in lifted)
        # ... and nothing else: with the score-map network's output frozen, the image is unseen
        frozen = [stage.clone() for stage in model.scoremap_net(image)]
        hook = model.scoremap_net.register_forward_hook(lambda module, args, out: frozen)
        try:
            assert torch.equal(model(moved)["kp3d_norm"], base["kp3d_norm"])
        finally:
            hook.remove()


def test_each_hand_slot_is_lifted_from_its_own_maps_with_a_proper_rotation():
    model = tiny_model()
    maps = torch.randn(1, 42, 8, 8, generator=torch.Generator().manual_seed(1))
    right_moved = maps.clone()
    right_moved[:, :NUM_JOINTS] += 1.0
    with torch.no_grad():
        base, moved = model.lift(maps), model.lift(right_moved)
    assert not torch.allclose(base["kp3d_norm"][:, :NUM_JOINTS], moved["kp3d_norm"][:, :NUM_JOINTS])
    assert torch.allclose(base["kp3d_norm"][:, NUM_JOINTS:], moved["kp3d_norm"][:, NUM_JOINTS:])
    rotation = base["viewpoint"]
    assert torch.allclose(rotation @ rotation.transpose(-1, -2), torch.eye(3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(rotation), torch.ones(1, 2), atol=1e-5)
    composed = compose(base["kp3d_canonical"].reshape(1, 2, NUM_JOINTS, 3), rotation)
    assert torch.allclose(composed.reshape(1, -1, 3), base["kp3d_norm"], atol=1e-6)
    direct = tiny_model("direct")
    with torch.no_grad():
        assert set(direct.lift(maps)) == {"kp3d_norm"}


SIZE = 64
SPEC = {"n": {"train": 16, "val": 8}, "input_size": SIZE, "two_hands": True,
        "codec": {"name": "scoremap_lift", "heatmap_size": SIZE // 8, "sigma": 1.0}}


def test_a_tiny_posenet_is_trained_decoded_and_scored_through_the_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path))
    model = tiny_model().train()
    train, val = build_dataset(SPEC, "train", training=True), build_dataset(SPEC, "val")
    config = {"optimizer": {"name": "adam", "lr": 1e-3}, "train": {"epochs": 2, "batch_size": 8,
              "device": "cpu"}, "eval": {"metric": ["mpjpe", "pck2d"], "joints": "labelled",
                                         "thresholds": [0.1, 0.5]}}
    history = engine.fit(model, config, train, val, loss_fn=losses.build("zb_posenet"),
                         progress=False)
    assert {"scoremap", "canonical", "viewpoint", "val_mpjpe_mm"} <= set(history)
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]

    record = engine.predict(model, val, batch_size=4, device="cpu")
    assert record["kp2d_pred"].shape == (8, 42, 2) and record["kp3d_rel_pred"].shape == (8, 42, 3)
    assert "hand_type_pred" not in record  # GT H = Y: the slot is the hand side
    found = metrics.evaluate_record(record, {"metric": ["epe3d", "mpjpe"], "joints": "labelled",
                                             "gt_scale": True})
    assert all(np.isfinite(found[key]) for key in ("epe_mm", "epe_mm_gt_scale", "mpjpe_mm"))


def test_one_hand_layouts_and_models_without_the_lifted_pose_are_refused(tmp_path, monkeypatch):
    one_hand = {"kp2d": np.full((NUM_JOINTS, 2), 50.0, np.float32),
                "labelled": np.ones(NUM_JOINTS, bool), "in_frame": np.ones(NUM_JOINTS, bool)}
    with pytest.raises(ValueError, match="two-hand codec"):
        codec().encode(one_hand)
    item = hand_made_item()
    targets = codec().encode(item)
    with pytest.raises(ValueError, match="one-hand model"):
        codec().decode_crop({"heatmaps": torch.zeros(1, NUM_JOINTS, GRID, GRID),
                             "kp3d_norm": torch.zeros(1, NUM_JOINTS, 3)}, batch_of(item))
    with pytest.raises(ValueError, match="'kp3d_norm'"):
        codec().decode_crop({"heatmaps": torch.as_tensor(targets["heatmaps"])[None]},
                            batch_of(item))
    # a one-hand data spec (two_hands false, the one-hand heatmap2d codec) gives the loss no
    # 3D targets to train the lifting on
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path))
    spec = {"n": {"train": 2}, "input_size": SIZE, "two_hands": False,
            "codec": {"name": "heatmap2d", "heatmap_size": SIZE // 8}}
    batch = {key: value[None] for key, value in build_dataset(spec, "train")[0].items()}
    with torch.no_grad():
        outputs = tiny_model()(batch["image"])
    with pytest.raises(ValueError, match="scoremap_lift"):
        losses.build("zb_posenet")(outputs, batch)
