"""Simple Baseline heatmap model (Xiao, Wu & Wei, "Simple Baselines for Human Pose Estimation and
Tracking", ECCV 2018, Section 2 and Fig. 1(c)).

A ResNet trunk's last stage C5 (stride 32) is followed by three deconvolution layers, each a
4×4 transposed convolution with stride 2 and 256 filters, batch normalisation and ReLU, which
bring the features back to stride 4; a 1×1 convolution then predicts one heatmap per joint. At
a 256² input the output is 21 heatmaps of 64², the target layout of ``handlib.codecs.heatmap2d``.

Choices where the paper leaves room:

- The trunk is ``handlib.models.backbones`` (ResNet v1.5), randomly initialised: the paper
  starts from ImageNet weights, which cannot be downloaded here; the book's profiles train from
  scratch and say so.
- Deconvolution and output weights are drawn from N(0, 0.001²) with zero biases, as in the
  authors' released code; the trunk keeps its He initialisation.
- ``backbone``, ``deconv_channels`` and extra ``backbone_kwargs`` (e.g. ``width=16``) let cheap
  profiles use a smaller trunk and head; the defaults give the paper's ResNet-50 model
  (34.0 M parameters with 21 joints).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from handlib.models import build
from handlib.models.layers import deconv_stack


class SimpleBaseline(nn.Module):
    """ResNet trunk + ``deconv_layers`` stride-2 deconvolutions + 1×1 heatmap head."""

    def __init__(
        self,
        backbone: str = "resnet50",
        deconv_channels: int = 256,
        deconv_layers: int = 3,
        num_joints: int = 21,
        **backbone_kwargs,
    ):
        super().__init__()
        self.backbone = build(backbone, **backbone_kwargs)
        self.deconv = deconv_stack(self.backbone.out_channels[-1], deconv_channels, deconv_layers)
        channels = deconv_channels if deconv_layers else self.backbone.out_channels[-1]
        self.head = nn.Conv2d(channels, num_joints, kernel_size=1)
        nn.init.normal_(self.head.weight, std=0.001)
        nn.init.zeros_(self.head.bias)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        c5 = self.backbone(image)[-1]
        return {"heatmaps": self.head(self.deconv(c5))}


def simple_baseline_r50(**kwargs) -> SimpleBaseline:
    """The paper's ResNet-50 Simple Baseline; keyword arguments as :class:`SimpleBaseline`."""
    return SimpleBaseline(**kwargs)
