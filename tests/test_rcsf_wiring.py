"""RCSF's and CPN's wiring, tested functionally: perturb one input or replace one part, and check
that exactly the outputs that must respond do (deleting a connection makes a test fail)."""
import pytest
import torch
import torch.nn as nn

from handlib.papers.rcsf.cpn import CPN, resize
from handlib.papers.rcsf.models import RCSF, STAGE_LEVELS, RegionalNet

SMALL = {"channels": 16, "backbone_width": 8, "backbone_layers": [1, 1, 1, 1]}


class Zero(nn.Module):
    """Stands in for a sub-network: outputs zeros of its input's shape."""

    def forward(self, x):
        return torch.zeros_like(x)


def pyramid(seed=0, channels=16, base=16):
    """G_2..G_5 of a 64² input: strides 4, 8, 16, 32."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(1, channels, base // 2 ** k, base // 2 ** k, generator=generator)
            for k in range(4)]


@pytest.mark.parametrize("design", list(STAGE_LEVELS))
def test_regional_net_responds_to_every_globalnet_level(design):
    """GlobalNet's feature of every resolution is re-injected into RegionalNet (added at the start
    of the stage that introduces it, and again at every later stage): perturbing any one level
    of the pyramid changes the heat maps. Without the re-injection, the low-resolution-first net
    could not see G_2..G_4 at all."""
    torch.manual_seed(0)
    net = RegionalNet(num_joints=5, channels=16, design=design).eval()
    base = pyramid()
    with torch.no_grad():
        reference = net(base)
        for level in range(4):
            perturbed = [p.clone() for p in base]
            perturbed[level] += 1.0
            assert not torch.allclose(net(perturbed), reference, atol=1e-6), (
                f"{design}: the heat maps ignore GlobalNet level {level}")


def test_reinjection_reaches_a_level_already_present():
    """G_5 (stride 32) starts stage 1 and is added again at stages 2-4: with stage 1's blocks
    replaced by zeros, the heat maps still respond to G_5 (through the later additions)."""
    torch.manual_seed(0)
    net = RegionalNet(num_joints=5, channels=16, design="low_res_first").eval()
    stage = net.stages[0]
    stage.branches = nn.ModuleList(Zero() for _ in stage.branches)
    base = pyramid()
    with torch.no_grad():
        reference = net(base)
        perturbed = [p.clone() for p in base]
        perturbed[3] += 1.0
        assert not torch.allclose(net(perturbed), reference, atol=1e-6)


def test_globalnet_jump_connection_adds_the_lateral():
    """G_i = conv(P_i) + L_i (the same-scale jump connection): with the output convolutions
    replaced by zeros, GlobalNet's features are exactly the pyramid's laterals."""
    torch.manual_seed(0)
    model = RCSF(design="global_only", **SMALL).eval()
    model.global_net.outputs = nn.ModuleList(Zero() for _ in range(4))
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        features, _ = model.global_net(image)
        laterals, _ = model.global_net.pyramid(model.global_net.backbone(image))
    for feature, lateral in zip(features, laterals):
        torch.testing.assert_close(feature, lateral)


def test_regional_heat_maps_come_from_the_regional_net():
    """The full model's ``heatmaps`` are RegionalNet's and ``global_heatmaps`` GlobalNet's:
    zeroing RegionalNet's head zeroes only ``heatmaps``."""
    torch.manual_seed(0)
    model = RCSF(**SMALL).eval()
    nn.init.zeros_(model.regional_net.head.weight)
    nn.init.zeros_(model.regional_net.head.bias)
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert torch.count_nonzero(out["heatmaps"]) == 0
    assert torch.count_nonzero(out["global_heatmaps"]) > 0


def _cpn_and_inputs():
    torch.manual_seed(0)
    model = CPN(depth=50, num_joints=5, **SMALL).eval()
    captured = {}
    model.refine_head.register_forward_pre_hook(
        lambda module, args: captured.__setitem__("refine_input", args[0]))
    return model, torch.randn(1, 3, 64, 64), captured


def test_cpn_cascade_gives_deeper_levels_more_blocks():
    """RefineNet: P5, P4, P3, P2 pass through 3, 2, 1, 0 bottlenecks. P2's share of RefineNet's
    input is P2 itself (no block), and the 3-block cascade is the one applied to P5 (stride 32)."""
    model, image, captured = _cpn_and_inputs()
    seen = {}
    deepest = model.cascade[3]
    deepest.register_forward_pre_hook(lambda module, args: seen.__setitem__("shape", args[0].shape))
    with torch.no_grad():
        model(image)
        features = model.backbone(image)
        _, merged = model.pyramid(features)
    assert len(model.cascade[3]) == 3 and len(model.cascade[0]) == 0
    assert seen["shape"][-1] == image.shape[-1] // 32
    channels = merged[0].shape[1]
    p2_share = captured["refine_input"][:, -channels:]  # concatenated P5, P4, P3, P2
    torch.testing.assert_close(p2_share, resize(merged[0], merged[0].shape[-2:]))


def test_cpn_global_levels_are_ordered_p5_to_p2():
    """``global_heatmaps`` stacks the levels P5, P4, P3, P2: perturbing the top-down path only at
    P2's lateral changes only the last level's heat map."""
    model, image, _ = _cpn_and_inputs()
    with torch.no_grad():
        reference = model(image)["global_heatmaps"]
        lateral = model.pyramid.laterals[0]
        model.pyramid.laterals[0] = nn.Sequential(lateral, _AddOne())
        perturbed = model(image)["global_heatmaps"]
    changed = [not torch.allclose(perturbed[:, k], reference[:, k]) for k in range(4)]
    assert changed == [False, False, False, True]


class _AddOne(nn.Module):
    def forward(self, x):
        return x + 1.0
