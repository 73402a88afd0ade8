"""HRNet-W32/W48 pose networks (Sun et al. 2019, "Deep High-Resolution Representation Learning
for Human Pose Estimation", §3 and the official ``pose_hrnet`` layout), predicting 21 hand-joint
heatmaps at stride 4. RCSF uses them as baselines (Tables 1-3, trained from scratch).

Layout (§3, Fig. 2 of Sun et al.):

- stem: two 3×3/2 conv-BN-ReLU (64 channels) → stride 4;
- stage 1: 4 Bottleneck blocks (64 planes → 256 channels), one branch;
- stages 2, 3, 4: 1, 4 and 3 *modules* with 2, 3 and 4 parallel branches of width
  C·(1, 2, 4, 8) (C = 32 for W32, 48 for W48), each branch 4 BasicBlocks, followed by an
  exchange unit (``handlib.models.layers.ExchangeUnit``): a higher-resolution input is brought
  down by repeated 3×3/2 conv-BN (ReLU between them), a lower-resolution input up by 1×1 conv-BN
  + nearest upsampling, and the inputs are summed and passed through ReLU;
- a transition between stages adds the next lower-resolution branch by a 3×3/2 conv from the
  current lowest one;
- the last module of stage 4 fuses into the highest-resolution branch only, and a 1×1 conv
  predicts the heatmaps.

Parameter counts: the reference COCO models (17 joints) have 28.5M (W32) and 63.6M (W48)
parameters. Built with ``num_joints=17`` this module gives 28,536,113 and 63,595,745 (tested);
the 21-joint hand models differ only in the final 1×1 conv (+4 output channels: +132 for W32,
+196 for W48): 28,536,245 and 63,595,941.

Cheap profiles: ``width`` (C), ``blocks`` (BasicBlocks per branch, 4), ``modules`` (modules in
stages 2-4, (1, 4, 3)) and ``stem_channels`` (64) shrink the net; defaults are the paper's.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from handlib.models.layers import (
    Bottleneck,
    MultiResolutionModule,
    conv_bn,
    init_heatmap_head,
    init_weights,
    residual_stage,
)
from handlib.skeleton import NUM_JOINTS


class HRNet(nn.Module):
    """HRNet pose model: ``forward(image) -> {"heatmaps": (B, J, S/4, S/4)}``."""

    def __init__(
        self,
        width: int = 32,
        num_joints: int = NUM_JOINTS,
        blocks: int = 4,
        modules: Sequence[int] = (1, 4, 3),
        stem_channels: int = 64,
    ):
        super().__init__()
        if len(modules) != 3:
            raise ValueError(
                f"modules gives the module count of stages 2-4 (3 values), got {modules}"
            )
        self.stem = nn.Sequential(
            conv_bn(3, stem_channels, 3, stride=2),
            conv_bn(stem_channels, stem_channels, 3, stride=2),
        )
        self.stage1 = residual_stage(Bottleneck, stem_channels, stem_channels, blocks)
        channels = [stem_channels * Bottleneck.expansion]
        self.transitions = nn.ModuleList()
        self.stages = nn.ModuleList()
        for stage_index, module_count in enumerate(modules):
            branches = stage_index + 2
            new_channels = [width * 2**b for b in range(branches)]
            self.transitions.append(self._transition(channels, new_channels))
            last_stage = stage_index == len(modules) - 1
            levels = dict(enumerate(new_channels))
            self.stages.append(
                nn.Sequential(
                    *(
                        MultiResolutionModule(
                            levels,
                            blocks,
                            outputs={0: width} if last_stage and k == module_count - 1 else None,
                        )
                        for k in range(module_count)
                    )
                )
            )
            channels = new_channels
        self.head = nn.Conv2d(width, num_joints, kernel_size=1)
        init_weights(self)
        init_heatmap_head(self.head)

    @staticmethod
    def _transition(old: Sequence[int], new: Sequence[int]) -> nn.ModuleList:
        """Adapt existing branches whose width changes (3×3 conv) and add the new lowest one."""
        paths = nn.ModuleList()
        for b, c_new in enumerate(new):
            if b < len(old):
                paths.append(nn.Identity() if old[b] == c_new else conv_bn(old[b], c_new, 3))
            else:
                paths.append(conv_bn(old[-1], c_new, 3, stride=2))
        return paths

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        xs = [self.stage1(self.stem(image))]
        for transition, stage in zip(self.transitions, self.stages):
            xs = [path(xs[min(b, len(xs) - 1)]) for b, path in enumerate(transition)]
            xs = stage(xs)
        return {"heatmaps": self.head(xs[0])}


def hrnet_w32(**kwargs) -> HRNet:
    return HRNet(width=kwargs.pop("width", 32), **kwargs)


def hrnet_w48(**kwargs) -> HRNet:
    return HRNet(width=kwargs.pop("width", 48), **kwargs)
