"""ResNet trunks, HRNet and the shared blocks: reference parameter counts and output shapes.

Parameter counts are taken on the ``meta`` device (no memory, no compute); real forwards run at
small inputs, except one 256² shape check.
"""
import pytest
import torch

from handlib.models import build
from handlib.models.backbones import resnet, resnet_classifier
from handlib.models.hrnet import HRNet
from handlib.models.layers import ExchangeUnit, conv_bn


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def meta_count(factory, *args, **kwargs) -> int:
    with torch.device("meta"):
        return count(factory(*args, **kwargs))


@pytest.mark.parametrize(
    "depth, reference",
    [(18, 11_689_512), (34, 21_797_672), (50, 25_557_032), (101, 44_549_160)],
)
def test_resnet_with_classifier_matches_reference_count(depth, reference):
    assert meta_count(resnet_classifier, depth, num_classes=1000) == reference


def test_resnet50_trunk_count():
    assert meta_count(build, "resnet50") == 23_508_032


@pytest.mark.parametrize(
    "name, channels",
    [("resnet18", (64, 128, 256, 512)), ("resnet34", (64, 128, 256, 512)),
     ("resnet50", (256, 512, 1024, 2048)), ("resnet101", (256, 512, 1024, 2048))],
)
def test_out_channels(name, channels):
    with torch.device("meta"):
        assert build(name).out_channels == channels


def test_resnet50_pyramid_shapes_at_256():
    torch.manual_seed(0)
    with torch.no_grad():
        features = build("resnet50").eval()(torch.randn(1, 3, 256, 256))
    assert [tuple(f.shape) for f in features] == [
        (1, 256, 64, 64), (1, 512, 32, 32), (1, 1024, 16, 16), (1, 2048, 8, 8)
    ]


@pytest.mark.parametrize("depth", [18, 50])
def test_narrow_resnet_forward_and_width_option(depth):
    torch.manual_seed(0)
    net = resnet(depth, width=8, layers=(1, 1, 1, 1))
    features = net(torch.randn(2, 3, 64, 64))
    expansion = 1 if depth == 18 else 4
    assert net.out_channels == tuple(8 * 2**i * expansion for i in range(4))
    for feature, channels, stride in zip(features, net.out_channels, (4, 8, 16, 32)):
        assert tuple(feature.shape) == (2, channels, 64 // stride, 64 // stride)
        assert torch.isfinite(feature).all()
    # a quarter of the width gives roughly a sixteenth of the parameters
    ratio = meta_count(resnet, depth, width=16) / meta_count(resnet, depth)
    assert 1 / 20 < ratio < 1 / 12


def test_resnet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="depth"):
        resnet(42)
    with pytest.raises(ValueError, match="4 stages"):
        resnet(50, layers=(1, 1, 1))


def test_hrnet_counts_match_the_reference_coco_models_with_17_joints():
    # Sun et al. 2019 report 28.5M (W32) and 63.6M (W48) for the 17-joint COCO models
    w32 = meta_count(HRNet, width=32, num_joints=17)
    w48 = meta_count(HRNet, width=48, num_joints=17)
    assert w32 == 28_536_113 and round(w32 / 1e6, 1) == 28.5
    assert w48 == 63_595_745 and round(w48 / 1e6, 1) == 63.6
    # the 21-joint hand models differ only in the 1x1 head: (C + 1) weights per extra joint
    assert meta_count(build, "hrnet_w32") - w32 == 4 * (32 + 1)
    assert meta_count(build, "hrnet_w48") - w48 == 4 * (48 + 1)


def test_small_hrnet_forward():
    torch.manual_seed(0)
    net = build("hrnet_w32", width=8, blocks=1, modules=(1, 1, 1), stem_channels=16)
    out = net(torch.randn(2, 3, 64, 64))
    assert set(out) == {"heatmaps"} and tuple(out["heatmaps"].shape) == (2, 21, 16, 16)


def test_exchange_unit_paths_and_shapes():
    torch.manual_seed(0)
    unit = ExchangeUnit({3: 8, 1: 4}, {0: 2, 1: 4, 3: 8})
    # identity from level 1 to itself; 1x1 conv + upsample from level 3; 3x3/2 convs downwards
    assert isinstance(unit.paths[1][1], torch.nn.Identity)
    assert len(unit.paths[2][1]) == 2  # two stride-2 steps from level 1 down to level 3
    low, high = torch.randn(1, 8, 2, 2), torch.randn(1, 4, 8, 8)
    out = unit([low, high])
    assert [tuple(o.shape) for o in out] == [(1, 2, 16, 16), (1, 4, 8, 8), (1, 8, 2, 2)]
    assert all((o >= 0).all() for o in out)  # ReLU after the sum


def test_conv_bn_keeps_size_and_halves_with_stride():
    x = torch.randn(1, 3, 10, 10)
    assert tuple(conv_bn(3, 5, 3)(x).shape) == (1, 5, 10, 10)
    assert tuple(conv_bn(3, 5, 3, stride=2)(x).shape) == (1, 5, 5, 5)
