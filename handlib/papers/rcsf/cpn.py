"""Cascaded Pyramid Network, CPN-50/101 (Chen et al. 2018, "Cascaded Pyramid Network for
Multi-person Pose Estimation", §3.1-3.2, Fig. 1), a baseline of RCSF (Tables 1-3).

- Backbone: a ResNet-50/101 trunk, features C2..C5 (``handlib.models.backbones``).
- GlobalNet (§3.1): an FPN-like top-down pyramid. Each Ci gets a 1×1 conv-BN-ReLU lateral to
  256 channels; from the top, the coarser level is upsampled (bilinear ×2, then 1×1 conv-BN, as
  in the authors' released code) and added: P5 = L5, Pi = Li + up(P(i+1)). Every level predicts
  heatmaps (1×1 conv-BN-ReLU → 3×3 conv → resize to stride 4 → BN), each supervised by L2.
- RefineNet (§3.2): P5, P4, P3, P2 pass through 3, 2, 1, 0 bottleneck blocks (deeper levels
  get more), all are upsampled to stride 4 and concatenated, then
  a bottleneck block and a 3×3 conv-BN give the final heatmaps, trained with OHKM
  (``handlib.losses.cpn``). The RefineNet bottlenecks have 128 planes and expansion 2 (256
  channels out), as in the released code.

Outputs: ``heatmaps`` (B, J, S/4, S/4) from RefineNet and ``global_heatmaps`` (B, 4, J, S/4,
S/4), GlobalNet's four levels ordered P5, P4, P3, P2.

Cheap profiles: ``backbone_width`` (ResNet base channels, 64), ``backbone_layers`` (blocks per
ResNet stage) and ``channels`` (pyramid width, 256; RefineNet planes are ``channels // 2``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from handlib.models.backbones import resnet
from handlib.models.layers import Bottleneck, conv_bn, init_heatmap_head, init_weights
from handlib.skeleton import NUM_JOINTS


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize to ``size`` (identity when already that size)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


class TopDownPyramid(nn.Module):
    """CPN's GlobalNet pyramid: laterals + top-down (bilinear ×2, 1×1 conv-BN) additions.

    ``forward([C2, C3, C4, C5]) -> (laterals [L2..L5], merged [P2..P5])``, all ``channels`` wide.
    """

    def __init__(self, in_channels: Sequence[int], channels: int = 256):
        super().__init__()
        self.laterals = nn.ModuleList(conv_bn(c, channels, kernel_size=1) for c in in_channels)
        self.upsamples = nn.ModuleList(
            conv_bn(channels, channels, kernel_size=1, relu=False) for _ in in_channels[1:]
        )

    def forward(
        self, features: list[torch.Tensor]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        laterals = [lateral(c) for lateral, c in zip(self.laterals, features)]
        merged = [laterals[-1]]
        for level in range(len(laterals) - 2, -1, -1):
            coarser = F.interpolate(merged[0], scale_factor=2, mode="bilinear", align_corners=True)
            merged.insert(0, laterals[level] + self.upsamples[level](coarser))
        return laterals, merged


class CPNPredictor(nn.Module):
    """GlobalNet heatmap head of one level: 1×1 conv-BN-ReLU → 3×3 conv → resize → BN."""

    def __init__(self, channels: int, num_joints: int):
        super().__init__()
        self.body = nn.Sequential(
            conv_bn(channels, channels, kernel_size=1),
            nn.Conv2d(channels, num_joints, kernel_size=3, padding=1, bias=False),
        )
        self.norm = nn.BatchNorm2d(num_joints)

    def forward(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        return self.norm(resize(self.body(x), size))


class CPN(nn.Module):
    """CPN: ``forward(image) -> {"heatmaps", "global_heatmaps"}`` (see the module docstring)."""

    def __init__(
        self,
        depth: int = 50,
        num_joints: int = NUM_JOINTS,
        channels: int = 256,
        backbone_width: int = 64,
        backbone_layers: Sequence[int] | None = None,
    ):
        super().__init__()
        self.backbone = resnet(depth, width=backbone_width, layers=backbone_layers)
        self.pyramid = TopDownPyramid(self.backbone.out_channels, channels)
        self.predictors = nn.ModuleList(CPNPredictor(channels, num_joints) for _ in range(4))
        planes = channels // 2
        # level index 0..3 = P2..P5; P(i) gets 0, 1, 2, 3 bottlenecks.
        self.cascade = nn.ModuleList(
            nn.Sequential(*(Bottleneck(channels, planes, expansion=2) for _ in range(level)))
            for level in range(4)
        )
        self.refine_head = nn.Sequential(
            Bottleneck(4 * channels, planes, expansion=2),
            nn.Conv2d(2 * planes, num_joints, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(num_joints),
        )
        init_weights(self)
        for predictor in self.predictors:
            init_heatmap_head(predictor.body[-1])
        init_heatmap_head(self.refine_head[1])

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(image)
        size = features[0].shape[-2:]
        _, merged = self.pyramid(features)
        global_heatmaps = [predict(p, size) for predict, p in zip(self.predictors, merged)]
        refined = [resize(block(p), size) for block, p in zip(self.cascade, merged)]
        return {
            "heatmaps": self.refine_head(torch.cat(refined[::-1], dim=1)),
            "global_heatmaps": torch.stack(global_heatmaps[::-1], dim=1),
        }


def cpn50(**kwargs) -> CPN:
    return CPN(depth=50, **kwargs)


def cpn101(**kwargs) -> CPN:
    return CPN(depth=101, **kwargs)
