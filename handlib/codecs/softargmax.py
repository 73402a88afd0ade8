"""``softargmax2d``: 2D joints read from latent heat maps by a soft-argmax (ResUnet, eqs. 1-2).

The model (ResUnet's head) outputs latent heat maps ``F`` and turns them into coordinates itself,
``PM = softmax(β · F)`` over all cells and ``p = Σ PM(p) · p`` (:func:`soft_argmax`), with a
learnable ``β`` per joint, so the codec's targets are the 2D joints themselves: ``kp2d_target``
(input pixels, the crop frame) and ``kp2d_weight`` (labelled and inside the crop), for a loss on
coordinates (the paper gives none; the ResUnet chapter records its choice). ``decode_crop``
reads the model's ``kp2d`` output.

β must stay positive: with β ≤ 0 the softmax no longer prefers the maxima of ``F``
(β → 0 gives the map centre whatever ``F``; β < 0 prefers the minima).
"""
from __future__ import annotations

import numpy as np
import torch

from handlib.codecs import Codec, output, to_numpy


def check_beta(beta: torch.Tensor) -> None:
    """Refuse a non-positive β, naming the joints whose β is not > 0."""
    bad = torch.nonzero(~(beta.detach().reshape(-1) > 0)).reshape(-1).tolist()
    if bad and beta.numel() > 1:
        raise ValueError(f"soft-argmax beta must be > 0; joints {bad} have beta "
                         f"{beta.detach().reshape(-1)[bad].tolist()}")
    if bad:
        raise ValueError(f"soft-argmax beta must be > 0, got {float(beta)}")


def soft_argmax(heatmaps: torch.Tensor, beta: float | torch.Tensor = 1.0,
                input_size: int | None = None) -> torch.Tensor:
    """ResUnet eq. 1-2: (B,J,h,w) maps -> (B,J,2) expected positions of softmax(beta * maps).

    Positions are in heatmap pixels (cell centres at ``k + 0.5``), or in input pixels when
    ``input_size`` is given. ``beta`` is a scalar or a (J,) tensor (learnable per joint).
    """
    b, j, h, w = heatmaps.shape
    beta = torch.as_tensor(beta, dtype=heatmaps.dtype, device=heatmaps.device)
    check_beta(beta)
    if beta.ndim == 1:
        beta = beta.view(1, j, 1)
    probability = torch.softmax(beta * heatmaps.reshape(b, j, -1), dim=-1).reshape(b, j, h, w)
    xs = torch.arange(w, dtype=heatmaps.dtype, device=heatmaps.device) + 0.5
    ys = torch.arange(h, dtype=heatmaps.dtype, device=heatmaps.device) + 0.5
    x = (probability.sum(dim=2) * xs).sum(dim=-1)
    y = (probability.sum(dim=3) * ys).sum(dim=-1)
    coords = torch.stack([x, y], dim=-1)
    if input_size is not None:
        coords = coords * torch.tensor([input_size / w, input_size / h], dtype=coords.dtype,
                                       device=coords.device)
    return coords


class SoftArgmax2D(Codec):
    """Targets and decoding for a model that outputs soft-argmax 2D joints (``kp2d``)."""

    name = "softargmax2d"

    def __init__(self, input_size: int):
        self.input_size = input_size

    def encode(self, item: dict) -> dict[str, np.ndarray]:
        weight = np.asarray(item["labelled"], bool) & np.asarray(item["in_frame"], bool)
        return {"kp2d_target": np.asarray(item["kp2d"], np.float32),
                "kp2d_weight": weight.astype(np.float32)}

    def decode_crop(self, outputs, batch) -> dict[str, np.ndarray]:
        return {"kp2d": to_numpy(output(outputs, "kp2d", self.name)).astype(np.float32)}
