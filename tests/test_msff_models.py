"""MS-FF's modules (handlib.papers.msff.models), wired as the paper's prose says: checked by
perturbing one input and watching which outputs must, and must not, respond."""
import pytest
import torch
import torch.nn as nn

from handlib import models
from handlib.papers.msff.models import ChannelConversion, LocalOptimization, channel_shuffle

TINY = {"width": 8, "layers": [1, 1, 1, 1], "channels": 16, "depth_bins": 4, "root_bins": 4,
        "hidden": 8}
LEVEL_CHANNELS, LEVEL_SIZES = (32, 64, 128, 256), (16, 8, 4, 2)  # ResNet-50 width 8 at 64²


class FixedFeatures(nn.Module):
    """A stand-in trunk that returns given C2-C5 maps, whatever the image."""

    def __init__(self, features):
        super().__init__()
        self.features = features

    def forward(self, image):
        return [f.clone() for f in self.features]


def features(seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(1, c, s, s, generator=generator)
            for c, s in zip(LEVEL_CHANNELS, LEVEL_SIZES)]


def outputs_with(name, feats, **options):
    torch.manual_seed(0)
    model = models.build(name, **TINY, **options).eval()
    model.backbone = FixedFeatures(feats)
    with torch.no_grad():
        return model(torch.zeros(1, 3, 64, 64))


def test_channel_conversion_rescales_channels_by_weights_of_their_means():
    ccm = ChannelConversion(4, reduction=2)
    for layer in (ccm.squeeze, ccm.excite):
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)
    x = torch.randn(1, 4, 3, 3)
    assert torch.allclose(ccm(x), 0.5 * x)  # sigma(0) on every channel
    with torch.no_grad():
        ccm.excite.bias.copy_(torch.tensor([20.0, -20.0, 0.0, 0.0]))
    out = ccm(x)
    assert torch.allclose(out[:, 0], x[:, 0], atol=1e-6) and out[:, 1].abs().max() < 1e-6
    # the weights see only each channel's mean: a spatial rearrangement keeps them
    nn.init.normal_(ccm.squeeze.weight)
    nn.init.normal_(ccm.excite.weight)
    flipped = x.flip(-1)
    assert torch.allclose(ccm(flipped), ccm(x).flip(-1), atol=1e-6)


def test_channel_shuffle_interleaves_the_two_halves():
    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert channel_shuffle(x).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_the_local_optimization_unit_keeps_one_half_and_upsamples():
    unit = LocalOptimization(8, upsample=False).eval()
    x = torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        out = unit(x)
    assert torch.equal(out[:, 0::2], x[:, :4])  # the unprocessed half, interleaved by the shuffle
    assert not torch.allclose(out[:, 1::2], x[:, 4:])
    with torch.no_grad():
        assert LocalOptimization(8).eval()(x).shape == (1, 8, 8, 8)


def test_msff_outputs_the_heatmap3d_layout_at_a_quarter_of_the_input():
    torch.manual_seed(0)
    model = models.build("msff", **TINY).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out["heatmaps3d"].shape == (2, 42, 4, 16, 16)
    assert out["root_depth"].shape == (2,) and out["hand_type"].shape == (2, 2)
    assert [len(model.refine[str(k)]) for k in range(4)] == [0, 1, 2, 3]


def test_heat_maps_fuse_every_level_and_the_heads_read_only_the_smallest():
    base = outputs_with("msff", features())
    for level in range(4):
        feats = features()
        feats[level] = feats[level] + 1.0
        moved = outputs_with("msff", feats)
        assert not torch.allclose(moved["heatmaps3d"], base["heatmaps3d"]), level
        heads_move = level == 3
        for key in ("root_depth", "hand_type"):
            assert torch.allclose(moved[key], base[key]) != heads_move, (level, key)


def test_the_c5_only_ablation_ignores_c2_to_c4():
    base = outputs_with("msff_no_global_regression", features())
    feats = features()
    for level in range(3):
        feats[level] = feats[level] + 1.0
    assert torch.equal(outputs_with("msff_no_global_regression", feats)["heatmaps3d"],
                       base["heatmaps3d"])
    feats[3] = feats[3] + 1.0
    assert not torch.allclose(outputs_with("msff_no_global_regression", feats)["heatmaps3d"],
                              base["heatmaps3d"])


def test_the_ablations_remove_their_module_and_nothing_else():
    def count(name, kind):
        torch.manual_seed(0)
        return sum(isinstance(m, kind) for m in models.build(name, **TINY).modules())

    assert count("msff", ChannelConversion) == 4 + 6  # one per level, one per LOM pass
    assert count("msff_no_channel_conversion", ChannelConversion) == 0
    assert count("msff_no_channel_conversion", LocalOptimization) == 6
    assert count("msff_no_local_optimization", LocalOptimization) == 0
    assert count("msff_no_local_optimization", ChannelConversion) == 4
    assert count("msff_no_global_regression", ChannelConversion) == 1 + 3  # C5 and its passes


def test_bad_pass_counts_are_refused():
    with pytest.raises(ValueError, match="passes"):
        models.build("msff", **TINY, passes=(0, 1, 2))


def test_the_global_regression_module_runs_top_down():
    torch.manual_seed(0)
    model = models.build("msff", **TINY).eval()
    with torch.no_grad():
        base, _ = model.pyramid(features())
        lower = features()
        lower[0] = lower[0] + 1.0  # C2 reaches only P2
        moved, _ = model.pyramid(lower)
        assert not torch.allclose(moved[0], base[0])
        assert all(torch.equal(m, b) for m, b in zip(moved[1:], base[1:]))
        upper = features()
        upper[3] = upper[3] + 1.0  # C5 reaches every level through the upsampled sums
        moved, _ = model.pyramid(upper)
        assert all(not torch.allclose(m, b) for m, b in zip(moved, base))
    assert [p.shape[-1] for p in base] == list(LEVEL_SIZES)
