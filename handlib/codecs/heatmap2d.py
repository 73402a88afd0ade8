"""``heatmap2d``: 2D Gaussian heat maps, the targets of RCSF, CPN, HRNet and SimpleBaseline.

- ``encode``: an unnormalised Gaussian (peak 1) of standard deviation ``sigma`` heat-map pixels
  per joint, sampled at the cell centres (as in CPN/SimpleBaseline/RCSF), weighted by
  ``target_weight`` = labelled and inside the crop (occluded joints are still supervised: their
  position is known); joints with zero weight get an all-zero map.
- ``decode``: the arg-max cell, refined to sub-pixel by fitting a parabola to the logarithm of
  the map around it along x and along y (exact for a Gaussian peak, so an encode → decode round
  trip recovers the joint away from the borders); ``confidence`` is the peak value.

The pixel convention is ``handlib.codecs``'.
"""
from __future__ import annotations

import numpy as np
import torch

from handlib.codecs import Codec, output


def cell_centres(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float32) + 0.5


def encode_heatmaps(kp2d: np.ndarray, weight: np.ndarray | None, input_size: int,
                    heatmap_size: int, sigma: float = 2.0) -> np.ndarray:
    """(J,2) input-pixel joints -> (J, h, w) float32 Gaussian heatmaps (see module doc)."""
    kp = np.asarray(kp2d, dtype=np.float32) * (heatmap_size / input_size)
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0 heatmap pixels, got {sigma}")
    weight = np.ones(len(kp), bool) if weight is None else np.asarray(weight) > 0
    cells = cell_centres(heatmap_size)
    gx = np.exp(-((cells[None, :] - kp[:, 0:1]) ** 2) / (2 * sigma ** 2))
    gy = np.exp(-((cells[None, :] - kp[:, 1:2]) ** 2) / (2 * sigma ** 2))
    heatmaps = gy[:, :, None] * gx[:, None, :]
    heatmaps[~weight] = 0.0
    return heatmaps.astype(np.float32)


def parabola_offset(left: np.ndarray, centre: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Vertex offset in (-0.5, 0.5) of the parabola through log values at -1, 0, +1."""
    eps = 1e-10
    l, c, r = (np.log(np.maximum(v, eps)) for v in (left, centre, right))
    curvature = l - 2 * c + r
    offset = np.where(curvature < -1e-12, 0.5 * (l - r) / np.minimum(curvature, -1e-12), 0.0)
    return np.clip(offset, -0.5, 0.5)


def decode_heatmaps(heatmaps, input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(N,J,h,w) (or (J,h,w)) numpy/torch heatmaps -> (kp2d in input pixels, confidence = peak).

    Arg-max cell plus log-parabola sub-pixel refinement; a cell on the border is not refined
    along the axis that lacks a neighbour.
    """
    if isinstance(heatmaps, torch.Tensor):
        heatmaps = heatmaps.detach().float().cpu().numpy()
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    single = heatmaps.ndim == 3
    if single:
        heatmaps = heatmaps[None]
    n, j, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, j, -1)
    best = flat.argmax(axis=-1)
    confidence = np.take_along_axis(flat, best[..., None], axis=-1)[..., 0]
    row, col = np.divmod(best, w)
    maps = heatmaps.reshape(n * j, h, w)
    r, c, k = row.ravel(), col.ravel(), np.arange(n * j)
    inner_x = (c > 0) & (c < w - 1)
    inner_y = (r > 0) & (r < h - 1)
    centre = maps[k, r, c]
    dx = parabola_offset(maps[k, r, np.maximum(c - 1, 0)], centre,
                          maps[k, r, np.minimum(c + 1, w - 1)]) * inner_x
    dy = parabola_offset(maps[k, np.maximum(r - 1, 0), c], centre,
                          maps[k, np.minimum(r + 1, h - 1), c]) * inner_y
    x = (c + 0.5 + dx) * (input_size / w)
    y = (r + 0.5 + dy) * (input_size / h)
    kp2d = np.stack([x, y], axis=-1).reshape(n, j, 2).astype(np.float32)
    if single:
        return kp2d[0], confidence[0]
    return kp2d, confidence


class Heatmap2D(Codec):
    """2D heat maps of side ``heatmap_size`` for an input of side ``input_size``."""

    name = "heatmap2d"

    def __init__(self, input_size: int, heatmap_size: int = 64, sigma: float = 2.0):
        if heatmap_size <= 0 or input_size % heatmap_size:
            raise ValueError(f"heatmap2d: input_size {input_size} must be a multiple of "
                             f"heatmap_size {heatmap_size}")
        if sigma <= 0:
            raise ValueError(f"heatmap2d: sigma must be > 0 heat-map pixels, got {sigma}")
        self.input_size, self.heatmap_size, self.sigma = input_size, heatmap_size, sigma

    def encode(self, item: dict) -> dict[str, np.ndarray]:
        weight = np.asarray(item["labelled"], bool) & np.asarray(item["in_frame"], bool)
        return {
            "heatmaps": encode_heatmaps(item["kp2d"], weight, self.input_size,
                                        self.heatmap_size, self.sigma),
            "target_weight": weight.astype(np.float32),
        }

    def decode_crop(self, outputs, batch) -> dict[str, np.ndarray]:
        kp2d, confidence = decode_heatmaps(output(outputs, "heatmaps", self.name),
                                           self.input_size)
        return {"kp2d": kp2d, "confidence": confidence}
