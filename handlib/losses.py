"""Training losses: ``build(name, **kwargs) -> loss(outputs, batch) -> {term: scalar tensor}``.

Every loss takes the model's output dict and the batch dict and returns named scalar terms; the
training objective is their sum (the engine sums and logs them).

Heatmap losses (RCSF §3.3, CPN §3, HRNet):

- per-joint error ``e_bj = w_bj · mean_pixels (h_bj − h^gt_bj)²`` where ``w`` is the batch's
  ``target_weight`` (0 for unlabelled joints). We read the papers' "L2 loss" on heatmaps as the
  squared error (the ``JointsMSELoss`` of the CPN/HRNet reference code), averaged over pixels so
  that its size does not depend on the heatmap resolution.
- ``heatmap_mse``: RCSF eq. (1), ``L = Σ_j e_bj`` averaged over the batch. ``joint_reduction=
  "mean"`` averages over joints instead (the convention of the HRNet/SimpleBaseline code).
  ``key`` selects the output (default ``heatmaps``).
- ``ohkm``: online hard keypoint mining, RCSF eq. (2) / CPN §3.3: per sample, keep only the
  ``m`` joints with the largest ``e_bj`` and sum them (gradient flows only through those ``m``).
- each paper's own losses live in its package, which registers them by ``module:function``
  in the ``LOSSES`` dict of its ``__init__.py`` (e.g. RCSF's eq. 3 and CPN's loss, in
  ``handlib.papers.rcsf.losses``); :data:`LOSSES` gathers them (``handlib.papers.registry``).

The equations in the paper sum over joints (Σ_j), which fixes the relative weight of L_G (21
terms) and L_R (m terms); we keep those sums. With Adam a common scale of the loss does not
change training.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable

import torch

from handlib import papers
from handlib.codecs.heatmap3d import render_volumes

LossFn = Callable[[dict, dict], dict[str, torch.Tensor]]


def per_joint_mse(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """(B, J, h, w) heatmaps → (B, J) target-weighted mean-squared error per joint."""
    if pred.shape != target.shape:
        raise ValueError(
            f"predicted heatmaps {tuple(pred.shape)} and targets {tuple(target.shape)} differ in "
            "shape; the model's heatmap size must equal the dataset's heatmap_size"
        )
    error = (pred.float() - target.float()).pow(2).flatten(2).mean(dim=2)
    if weight is not None:
        error = error * weight.to(error.dtype).reshape(error.shape)
    return error


def hard_keypoint_sum(errors: torch.Tensor, m: int | None) -> torch.Tensor:
    """RCSF eq. (2): per sample, the sum of the ``m`` largest per-joint errors; batch mean.

    ``errors`` is (B, J). ``m=None`` (or ``m >= J``) keeps every joint.
    """
    joints = errors.shape[1]
    if m is None or m >= joints:
        return errors.sum(dim=1).mean()
    if m < 1:
        raise ValueError(f"OHKM needs m >= 1 hard keypoints, got m={m}")
    return torch.topk(errors, k=m, dim=1, sorted=False).values.sum(dim=1).mean()


def target_weight(batch: dict) -> torch.Tensor | None:
    return batch.get("target_weight")


def heatmap_mse(key: str = "heatmaps", joint_reduction: str = "sum") -> LossFn:
    """Target-weighted heatmap L2 (RCSF eq. 1) on ``outputs[key]``; term name ``heatmap``."""
    if joint_reduction not in ("sum", "mean"):
        raise ValueError(f"joint_reduction must be 'sum' or 'mean', got {joint_reduction!r}")

    def loss(outputs: dict, batch: dict) -> dict[str, torch.Tensor]:
        errors = per_joint_mse(outputs[key], batch["heatmaps"], target_weight(batch))
        total = errors.sum(dim=1).mean()
        if joint_reduction == "mean":
            total = total / errors.shape[1]
        return {"heatmap": total}

    return loss


def ohkm(m: int = 11, key: str = "heatmaps") -> LossFn:
    """Online hard keypoint mining (RCSF eq. 2) on ``outputs[key]``; term name ``ohkm``."""

    def loss(outputs: dict, batch: dict) -> dict[str, torch.Tensor]:
        errors = per_joint_mse(outputs[key], batch["heatmaps"], target_weight(batch))
        return {"ohkm": hard_keypoint_sum(errors, m)}

    return loss


#: InterNet's Gaussian peak: the reference renders its target volumes ×255
#: (``render_gaussian_heatmap``), which sets the heat-map term's weight against the root-depth
#: and hand-type terms (by 255² in the L2); kept, since the three terms are summed unweighted.
INTERNET_HEATMAP_PEAK = 255.0


def internet() -> LossFn:
    """InterNet's three terms (Moon et al. 2020, §5; the reference code's ``JointHeatmapLoss``,
    ``RelRootDepthLoss``, ``HandTypeLoss``), for ``handlib.models.internet`` on the ``heatmap3d``
    codec: ``joint_heatmap``, the L2 between the predicted volumes and Gaussian volumes of peak
    :data:`INTERNET_HEATMAP_PEAK` rendered from ``joint_hm`` at the codec's ``volume_sigma``,
    weighted by ``joint_weight`` and averaged
    over voxels; ``rel_root_depth``, the L1 of the relative root depth (bins) where
    ``root_depth_weight`` is 1; ``hand_type``, the binary cross-entropy of the two hand-type
    logits, averaged over the two and weighted by ``hand_type_weight`` (InterHand2.6M's
    ``hand_type_valid``; the reference's ``HandTypeLoss``: ``loss.mean(1) * hand_type_valid``).
    Each is a mean over the batch, as in the reference."""
    def loss(outputs: dict, batch: dict) -> dict[str, torch.Tensor]:
        volumes = outputs["heatmaps3d"].float()
        depth_bins, height, width = volumes.shape[-3:]
        if height != width:
            raise ValueError(f"InterNet heat maps must be square, got {height}x{width}")
        # each sample's width, read on the device (a float() here would wait for the device)
        target = INTERNET_HEATMAP_PEAK * render_volumes(batch["joint_hm"], width, depth_bins,
                                                        batch["volume_sigma"])
        weight = batch["joint_weight"].to(volumes.dtype)[..., None, None, None]
        root_error = (outputs["root_depth"].float() - batch["root_depth_target"].float()).abs()
        return {
            "joint_heatmap": ((volumes - target) ** 2 * weight).mean(),
            "rel_root_depth": (root_error * batch["root_depth_weight"].float()).mean(),
            "hand_type": (torch.nn.functional.binary_cross_entropy_with_logits(
                outputs["hand_type"].float(), batch["hand_type"].float(), reduction="none"
            ).mean(dim=1) * batch["hand_type_weight"].float()).mean(),
        }

    return loss


#: The shared losses: name -> ``module:function``.
CORE: dict[str, str] = {
    "heatmap_mse": "handlib.losses:heatmap_mse",
    "ohkm": "handlib.losses:ohkm",
    "internet": "handlib.losses:internet",
}

#: Every registered loss: the shared ones and each paper's (its package's ``LOSSES``).
LOSSES: dict[str, str] = papers.registry(CORE, "LOSSES")


def module_of(name: str) -> str:
    """The module that defines the loss ``name``."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; available losses: {', '.join(sorted(LOSSES))}")
    return LOSSES[name].split(":")[0]


def build(name: str, **kwargs) -> LossFn:
    """The loss ``name`` (one of ``LOSSES``) configured with ``kwargs``."""
    module_name = module_of(name)
    function_name = LOSSES[name].split(":")[1]
    return getattr(importlib.import_module(module_name), function_name)(**kwargs)
