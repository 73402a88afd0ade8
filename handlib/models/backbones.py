"""ResNet-18/34/50/101 trunks (He et al. 2016, Table 1) returning the pyramid ``[C2, C3, C4, C5]``.

Written out here (no torchvision/timm). The layout is torchvision's "ResNet v1.5": a 7×7/2 stem
convolution and a 3×3/2 max-pool, then four residual stages of ``LAYERS[depth]`` blocks at
strides 4, 8, 16 and 32 (the stride of a bottleneck sits on its 3×3 convolution). C2..C5 are the
outputs of those four stages, with ``out_channels`` = (64, 128, 256, 512) × expansion (1 for the
BasicBlock nets 18/34, 4 for the Bottleneck nets 50/101).

Parameter counts (tested): with a 1000-way classifier (``resnet_classifier``) ResNet-18 has
11,689,512, ResNet-34 21,797,672, ResNet-50 25,557,032 and ResNet-101 44,549,160 parameters, the
reference torchvision counts; the ResNet-50 trunk alone (what RCSF and CPN build on) has
23,508,032.

Cheap profiles: ``width`` is the number of base channels (64 in the paper's nets; the four
stages use width × (1, 2, 4, 8) planes and the stem ``width`` channels), so ``width=16`` gives a
net with about 1/16 of the parameters and FLOPs at the same depth; ``layers`` overrides the
blocks per stage (e.g. ``(1, 1, 1, 1)``). Defaults reproduce the reference nets exactly.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from handlib.models.layers import BasicBlock, Bottleneck, conv_bn, init_weights, residual_stage

#: Residual block and blocks per stage of each standard depth (He et al. 2016, Table 1).
LAYERS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}


class ResNet(nn.Module):
    """A ResNet trunk; ``forward(image) -> [C2, C3, C4, C5]`` at strides 4, 8, 16, 32."""

    def __init__(
        self,
        depth: int = 50,
        width: int = 64,
        layers: Sequence[int] | None = None,
        in_channels: int = 3,
    ):
        super().__init__()
        if depth not in LAYERS:
            raise ValueError(f"unsupported ResNet depth {depth}; choose one of {sorted(LAYERS)}")
        if width < 1:
            raise ValueError(f"width (base channels) must be positive, got {width}")
        block, default_layers = LAYERS[depth]
        layers = tuple(default_layers if layers is None else layers)
        if len(layers) != 4:
            raise ValueError(f"layers must give blocks for the 4 stages, got {layers}")
        self.depth = depth
        self.stem = nn.Sequential(
            conv_bn(in_channels, width, kernel_size=7, stride=2),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        stages = []
        channels = width
        for index, blocks in enumerate(layers):
            planes = width * 2**index
            stride = 1 if index == 0 else 2
            stages.append(residual_stage(block, channels, planes, blocks, stride=stride))
            channels = planes * block.expansion
        self.stages = nn.ModuleList(stages)
        self.out_channels: tuple[int, ...] = tuple(
            width * 2**i * block.expansion for i in range(4)
        )
        self.strides: tuple[int, ...] = (4, 8, 16, 32)
        init_weights(self)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(image)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class ResNetClassifier(nn.Module):
    """A trunk + global average pooling + linear classifier (the ImageNet model, for counting)."""

    def __init__(self, trunk: ResNet, num_classes: int = 1000):
        super().__init__()
        self.trunk = trunk
        self.fc = nn.Linear(trunk.out_channels[-1], num_classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        c5 = self.trunk(image)[-1]
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(c5, 1), 1))


def resnet(depth: int = 50, **kwargs) -> ResNet:
    """The ResNet trunk of ``depth`` (18, 34, 50, 101); kwargs: ``width``, ``layers``,
    ``in_channels``."""
    return ResNet(depth=depth, **kwargs)


def resnet_classifier(depth: int = 50, num_classes: int = 1000, **kwargs) -> ResNetClassifier:
    """The full classification network (trunk + ``num_classes``-way head)."""
    return ResNetClassifier(resnet(depth, **kwargs), num_classes)


def resnet18(**kwargs) -> ResNet:
    return resnet(18, **kwargs)


def resnet34(**kwargs) -> ResNet:
    return resnet(34, **kwargs)


def resnet50(**kwargs) -> ResNet:
    return resnet(50, **kwargs)


def resnet101(**kwargs) -> ResNet:
    return resnet(101, **kwargs)
