"""InterNet (Moon et al. 2020, "InterHand2.6M: A Dataset and Baseline for 3D Interacting Hand Pose
Estimation from a Single RGB Image", ECCV, §5 and Fig. 4), the 2.5D baseline that MS-FF (paper 2)
and InterNet+ (paper 3) build on, shared here by both.

A ResNet trunk's last stage C5 (stride 32) feeds PoseNet's three heads:

- **joint heat maps**, one branch per hand (right, then left, as InterHand2.6M orders its 42
  joints): 3 deconvolutions of 256 channels (×8, to stride 4) and a 1×1 convolution to
  ``21 × depth_bins`` channels, read as 21 volumes (depth bin, y, x) per hand. The depth axis is
  the joint's depth relative to its own wrist (the ``heatmap3d`` codec's targets);
- **relative root depth**: global average pooling of C5, a 2-layer MLP (512 hidden units, ReLU)
  to a 1D heat map of ``root_bins`` bins, and its soft-argmax: the left wrist's depth relative
  to the right's, in bins;
- **hand type**: the same pooled C5 through a 2-layer MLP (512 hidden) to two logits, right and
  left hand present (the paper's two sigmoids; the loss and the codec apply the sigmoid).

Sizes not in the paper's text are the authors' released code (github.com/facebookresearch/
InterHand2.6M, ``common/nets/module.py``, ``main/config.py``): the 2048→256→256→256
deconvolution branches, the 2048→512→64 root and 2048→512→2 hand-type MLPs, 64³ heat maps
at 256² input. Choices:

- the soft-argmax positions are bin centres ``k + 0.5`` (the codec's convention; the reference
  uses ``k``, a half-bin shift that its own decoding cancels);
- the trunk is ``handlib.models.backbones``' ResNet, randomly initialised (the reference starts
  from ImageNet weights, which cannot be downloaded here);
- ``backbone``, ``deconv_channels``, ``hidden`` and backbone keyword arguments (``width``,
  ``layers``) shrink the model for cheap profiles; the defaults are the paper's ResNet-50 model.

Outputs (the ``heatmap3d`` codec's inputs): ``heatmaps3d`` (B, 42, D, H/4, W/4), ``root_depth``
(B,) in root bins, ``hand_type`` (B, 2) logits. The loss is :func:`handlib.losses.internet`.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from handlib.models import build
from handlib.models.layers import deconv_stack
from handlib.skeleton import NUM_JOINTS

HANDS = 2


def expected_bin(logits: torch.Tensor) -> torch.Tensor:
    """(B, N) 1D heat-map logits -> (B,) soft-argmax position in bins (bin centres k + 0.5)."""
    positions = torch.arange(logits.shape[-1], device=logits.device, dtype=logits.dtype) + 0.5
    return (torch.softmax(logits, dim=-1) * positions).sum(dim=-1)


def mlp_head(in_features: int, hidden: int, out_features: int) -> nn.Sequential:
    """PoseNet's two-layer head on pooled features: Linear, ReLU, Linear (weights N(0, 0.01²))."""
    head = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, out_features))
    for layer in head:
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)
    return head


class InterNet(nn.Module):
    """ResNet trunk + PoseNet: per-hand voxel heat maps, relative root depth, hand type."""

    def __init__(self, backbone: str = "resnet50", depth_bins: int = 64, root_bins: int = 64,
                 deconv_channels: int = 256, hidden: int = 512, **backbone_kwargs):
        super().__init__()
        self.backbone = build(backbone, **backbone_kwargs)
        self.depth_bins = depth_bins
        c5 = self.backbone.out_channels[-1]
        self.joint_branches = nn.ModuleList(
            nn.Sequential(deconv_stack(c5, deconv_channels, 3),
                          nn.Conv2d(deconv_channels, NUM_JOINTS * depth_bins, kernel_size=1))
            for _ in range(HANDS))
        for branch in self.joint_branches:
            nn.init.normal_(branch[-1].weight, std=0.001)
            nn.init.zeros_(branch[-1].bias)
        self.root_head = mlp_head(c5, hidden, root_bins)
        self.hand_type_head = mlp_head(c5, hidden, HANDS)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        c5 = self.backbone(image)[-1]
        volumes = []
        for branch in self.joint_branches:
            maps = branch(c5)
            volumes.append(maps.reshape(len(image), NUM_JOINTS, self.depth_bins,
                                        *maps.shape[-2:]))
        pooled = c5.mean(dim=(2, 3))
        return {"heatmaps3d": torch.cat(volumes, dim=1),
                "root_depth": expected_bin(self.root_head(pooled)),
                "hand_type": self.hand_type_head(pooled)}


def internet(**kwargs) -> InterNet:
    """The paper's ResNet-50 InterNet; keyword arguments as :class:`InterNet`."""
    return InterNet(**kwargs)
