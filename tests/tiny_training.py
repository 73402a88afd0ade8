"""A tiny heatmap model, data set and two-term loss for the engine's tests (test_engine,
test_distributed): 32² images, 4 joints, 8² heatmaps; independent of handlib's models/losses."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset

SIZE, JOINTS, HEATMAP = 32, 4, 8


class TinyNet(nn.Module):
    """Two stride-2 convolutions (with dropout between them): 32² image → 4 heatmaps of 8²."""

    def __init__(self, dropout: float = 0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(8, JOINTS, 3, stride=2, padding=1)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"heatmaps": self.conv2(self.dropout(torch.relu(self.conv1(image))))}


class TinyHeatmapSet(Dataset):
    """``n`` random samples: a Gaussian dot per joint drawn into channel ``j % 3`` of the image,
    Gaussian target heatmaps at a quarter of the resolution, all labels the engine reads, and
    the ``heatmap2d`` codec that decodes a model's heat maps (as ``PoseDataset`` has)."""

    def __init__(self, n: int, seed: int = 0):
        from handlib import codecs

        self.codec = codecs.build({"name": "heatmap2d", "input_size": SIZE,
                                   "heatmap_size": HEATMAP})
        rng = np.random.default_rng(seed)
        self.kp2d = rng.uniform(2, SIZE - 2, (n, JOINTS, 2)).astype(np.float32)
        yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
        hy, hx = np.mgrid[0:HEATMAP, 0:HEATMAP].astype(np.float32)
        self.images = np.zeros((n, 3, SIZE, SIZE), np.float32)
        self.heatmaps = np.zeros((n, JOINTS, HEATMAP, HEATMAP), np.float32)
        for i, joints in enumerate(self.kp2d):
            for j, (x, y) in enumerate(joints):
                self.images[i, j % 3] += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 4)
                self.heatmaps[i, j] = np.exp(-((hx - x / 4) ** 2 + (hy - y / 4) ** 2) / 2)

    def __len__(self) -> int:
        return len(self.kp2d)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "image": torch.from_numpy(self.images[i]),
            "heatmaps": torch.from_numpy(self.heatmaps[i]),
            "target_weight": torch.ones(JOINTS),
            "kp2d": torch.from_numpy(self.kp2d[i]),
            "visible": torch.ones(JOINTS, dtype=torch.bool),
            "in_frame": torch.ones(JOINTS, dtype=torch.bool),
            "labelled": torch.ones(JOINTS, dtype=torch.bool),
            "norm_size": torch.tensor(float(SIZE)),
            "crop": torch.eye(3),  # the images are the samples' own: the crop is the identity
            "mirrored": torch.tensor(False),
            "index": torch.tensor(i),
        }


def two_term_loss(outputs: dict, batch: dict) -> dict[str, torch.Tensor]:
    """A heatmap MSE plus a small L1 activity term: two named terms, as the papers' sums."""
    heatmaps = outputs["heatmaps"]
    return {
        "heatmap": (heatmaps - batch["heatmaps"]).pow(2).mean(),
        "activity": 0.01 * heatmaps.abs().mean(),
    }


def config(**train) -> dict:
    """A small fit config (Adam, 2 epochs of batch 8, CPU in fp32, validation PCK at 3
    thresholds)."""
    return {
        "optimizer": {"name": "adam", "lr": 0.01},
        "scheduler": {"name": "constant"},
        "train": {"epochs": 2, "batch_size": 8, "device": "cpu", "amp": False, "log_every": 2,
                  **train},
        "eval": {"thresholds": [0.05, 0.1, 0.2], "batch_size": 8},
    }
