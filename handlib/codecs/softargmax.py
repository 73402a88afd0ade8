"""``softargmax2d``: 2D joints read from latent heat maps by a soft-argmax (ResUnet, eqs. 1-2).

The model (ResUnet's head) outputs latent heat maps ``F`` and turns them into coordinates itself,
``PM = softmax(β · F)`` over all cells and ``p = Σ PM(p) · p`` (:func:`soft_argmax`), with a
learnable ``β`` per joint, so the codec's targets are the 2D joints themselves: ``kp2d_target``
(input pixels, the crop frame) and ``kp2d_weight`` (labelled and inside the crop), for a loss on
coordinates (the paper gives none; the ResUnet chapter records its choice). ``decode_crop``
reads the model's ``kp2d`` output (B, J, 2), input pixels. ``heatmap_size`` (default 64, the
paper's "(21, 64)" output read as 64² maps) only sizes the model's latent maps; input_size must
be a multiple of it.

Where the paper is silent: positions are the cell centres ``k + 0.5`` of ``handlib.codecs``'
pixel convention, scaled by ``input_size / heatmap_size`` to input pixels; the softmax runs over
all ``h · w`` cells of a joint's map (eq. 1's Ω).

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
                input_size: int | None = None, *, check: bool = True) -> torch.Tensor:
    """ResUnet eq. 1-2: (B,J,h,w) maps -> (B,J,2) expected positions of softmax(beta * maps).

    Positions are in heatmap pixels (cell centres at ``k + 0.5``), or in input pixels when
    ``input_size`` is given. ``beta`` is a scalar or a (J,) tensor (learnable per joint).
    ``check=False`` skips :func:`check_beta`, which reads β on the host (on a GPU, a wait for
    the device at every call): for a β positive by construction (ResUnet's softplus-floored β,
    ``handlib.papers.resunet.models.SoftArgmaxBeta``). Nothing else here leaves the device.
    """
    b, j, h, w = heatmaps.shape
    beta = torch.as_tensor(beta, dtype=heatmaps.dtype, device=heatmaps.device)
    if check:
        check_beta(beta)
    if beta.ndim == 1 and beta.numel() != j:
        raise ValueError(f"soft-argmax beta has {beta.numel()} values for {j} joints' maps; give "
                         "one beta per joint or a single number")
    if beta.ndim == 1:
        beta = beta.view(1, j, 1)
    probability = torch.softmax(beta * heatmaps.reshape(b, j, -1), dim=-1).reshape(b, j, h, w)
    xs = torch.arange(w, dtype=heatmaps.dtype, device=heatmaps.device) + 0.5
    ys = torch.arange(h, dtype=heatmaps.dtype, device=heatmaps.device) + 0.5
    x = (probability.sum(dim=2) * xs).sum(dim=-1)
    y = (probability.sum(dim=3) * ys).sum(dim=-1)
    if input_size is not None:  # numbers, not a tensor copied to the device
        x, y = x * (input_size / w), y * (input_size / h)
    return torch.stack([x, y], dim=-1)


class SoftArgmax2D(Codec):
    """Targets and decoding for a model that outputs soft-argmax 2D joints (``kp2d``)."""

    name = "softargmax2d"

    def __init__(self, input_size: int, heatmap_size: int = 64):
        if heatmap_size <= 0 or input_size % heatmap_size:
            raise ValueError(f"softargmax2d: input_size {input_size} must be a multiple of "
                             f"heatmap_size {heatmap_size}")
        #: ``heatmap_size``: the side of the model's latent maps (ResUnet: 64², §II.A), which
        #: the model reads; the targets themselves are coordinates.
        self.input_size, self.heatmap_size = input_size, heatmap_size

    def encode(self, item: dict) -> dict[str, np.ndarray]:
        weight = np.asarray(item["labelled"], bool) & np.asarray(item["in_frame"], bool)
        return {"kp2d_target": np.asarray(item["kp2d"], np.float32),
                "kp2d_weight": weight.astype(np.float32)}

    def decode_crop(self, outputs, batch) -> dict[str, np.ndarray]:
        return {"kp2d": to_numpy(output(outputs, "kp2d", self.name)).astype(np.float32)}
