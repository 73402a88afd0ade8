"""A model of a second family goes through the same path as RCSF's heat maps, with no change to
the engine, the pipeline or the study machinery: a tiny InterNet (``handlib.models.internet``:
voxel heat maps, relative root depth, hand type) on the ``heatmap3d`` codec is trained by
``engine.fit`` with its registered loss, decoded by ``engine.predict`` into a prediction record
and scored by the metric registry."""
import numpy as np
import torch

from handlib import engine, losses, metrics, models
from handlib.data.pipeline import build_dataset

SIZE, GRID, BINS = 32, 8, 8
SPEC = {"n": {"train": 16, "val": 8}, "input_size": SIZE, "two_hands": True,
        "codec": {"name": "heatmap3d", "heatmap_size": GRID, "depth_bins": BINS, "sigma": 1.0,
                  "root_depth_bins": BINS}}
TINY = {"width": 8, "layers": [1, 1, 1, 1], "depth_bins": BINS, "root_bins": BINS,
        "deconv_channels": 16, "hidden": 16}


def test_a_two_hand_3d_model_is_trained_decoded_and_scored_through_the_same_path(tmp_path,
                                                                                monkeypatch):
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path))
    torch.manual_seed(0)
    model = models.build("internet", **TINY)
    train, val = build_dataset(SPEC, "train", training=True), build_dataset(SPEC, "val")
    config = {"optimizer": {"name": "adam", "lr": 1e-2}, "train": {"epochs": 2, "batch_size": 8,
              "device": "cpu"}, "eval": {"metric": ["mpjpe", "pck2d"], "joints": "labelled",
                                         "thresholds": [0.1, 0.5]}}
    history = engine.fit(model, config, train, val, loss_fn=losses.build("internet"), progress=False)
    assert {"joint_heatmap", "hand_type", "rel_root_depth", "val_mpjpe_mm",
            "val_mrrpe_mm"} <= set(history)
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]

    record = engine.predict(model, val, batch_size=4, device="cpu")
    assert record["kp2d_pred"].shape == (8, 42, 2) and record["kp3d_pred"].shape == (8, 42, 3)
    assert record["hand_type_pred"].shape == (8, 2) and record["rel_root_pred"].shape == (8, 3)
    # the labels came back into the samples' own frames: they are the renderer's
    for position in range(3):
        source = val.source[int(record["index"][position])]
        valid = source["hand_valid"]
        np.testing.assert_allclose(record["kp2d"][position].reshape(2, 21, 2)[valid],
                                   source["kp2d"][valid], atol=2e-3)
    found = metrics.evaluate_record(record, {"metric": "mpjpe", "joints": "labelled"})
    assert np.isfinite(found["mpjpe_mm"]) and 0 <= found["handedness_acc"] <= 1
    assert found["mpjpe_mm"] == history["val_mpjpe_mm"].iloc[-1]
