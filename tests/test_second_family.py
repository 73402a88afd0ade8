"""A model of a second family goes through the same path as RCSF's heat maps, with no change to
the engine, the pipeline or the study machinery: a tiny InterNet-style two-hand model (voxel heat
maps, relative root depth, hand type) on the ``heatmap3d`` codec is trained by ``engine.fit``,
decoded by ``engine.predict`` into a prediction record and scored by the metric registry."""
import numpy as np
import torch
import torch.nn as nn

from handlib import engine, metrics
from handlib.codecs.heatmap3d import render_volumes
from handlib.data.pipeline import build_dataset

SIZE, GRID, BINS, SIGMA = 32, 8, 8, 1.0
SPEC = {"n": {"train": 16, "val": 8}, "input_size": SIZE, "two_hands": True,
        "codec": {"name": "heatmap3d", "heatmap_size": GRID, "depth_bins": BINS, "sigma": SIGMA}}


class TinyInterNet(nn.Module):
    """Conv trunk → 42 voxel heat maps, a root-depth bin (soft-argmax of a 1D map), hand type."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
                                   nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.ReLU())
        self.joints = nn.Conv2d(16, 42 * BINS, 1)
        self.root = nn.Linear(16, BINS)
        self.hand_type = nn.Linear(16, 2)

    def forward(self, image):
        features = self.trunk(image)
        pooled = features.mean(dim=(2, 3))
        volumes = self.joints(features).reshape(len(image), 42, BINS, GRID, GRID)
        root = (torch.softmax(self.root(pooled), -1) * (torch.arange(BINS) + 0.5)).sum(-1)
        return {"heatmaps3d": volumes, "root_depth": root, "hand_type": self.hand_type(pooled)}


def internet_loss(outputs, batch):
    """InterNet's three terms: voxel heat-map L2, hand-type BCE, root-depth L1."""
    target = render_volumes(batch["joint_hm"], GRID, BINS, SIGMA)
    weight = batch["joint_weight"][..., None, None, None]
    return {
        "heatmap": ((outputs["heatmaps3d"] - target) ** 2 * weight).mean(),
        "hand_type": nn.functional.binary_cross_entropy_with_logits(outputs["hand_type"],
                                                                    batch["hand_type"]),
        "root": ((outputs["root_depth"] - batch["root_depth_target"]).abs()
                 * batch["root_depth_weight"]).mean(),
    }


def test_a_two_hand_3d_model_is_trained_decoded_and_scored_through_the_same_path(tmp_path,
                                                                                monkeypatch):
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path))
    torch.manual_seed(0)
    model = TinyInterNet()
    train, val = build_dataset(SPEC, "train", training=True), build_dataset(SPEC, "val")
    config = {"optimizer": {"name": "adam", "lr": 1e-2}, "train": {"epochs": 2, "batch_size": 8,
              "device": "cpu"}, "eval": {"metric": ["mpjpe", "pck2d"], "joints": "labelled",
                                         "thresholds": [0.1, 0.5]}}
    history = engine.fit(model, config, train, val, loss_fn=internet_loss, progress=False)
    assert {"heatmap", "hand_type", "root", "val_mpjpe_mm", "val_mrrpe_mm"} <= set(history)
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
