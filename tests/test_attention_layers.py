"""The activation and attention layers of ``handlib.models.layers`` (InterNet+ and MS-FF), each
checked against values worked by hand or against what must (and must not) respond when one input
changes."""
import math

import pytest
import torch

from handlib.models import layers


def test_acon_c_is_the_mean_for_small_beta_and_the_maximum_for_large_beta():
    acon = layers.AconC(2)
    with torch.no_grad():
        acon.p1.copy_(torch.tensor([1.0, 2.0]).view(1, 2, 1, 1))
        acon.p2.copy_(torch.tensor([0.25, -1.0]).view(1, 2, 1, 1))
    x = torch.tensor([3.0, -2.0]).view(1, 1, 1, 2).expand(1, 2, 1, 2)
    p1, p2 = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1), torch.tensor([0.25, -1.0]).view(1, 2, 1, 1)
    # beta -> 0: (p1 - p2) x / 2 + p2 x = (p1 + p2) / 2 * x, the linear mean (eq. 1)
    assert torch.allclose(acon.switch(x, torch.tensor(1e-8)), (p1 + p2) / 2 * x, atol=1e-6)
    # beta -> inf: max(p1 x, p2 x)
    assert torch.allclose(acon.switch(x, torch.tensor(1e4)), torch.maximum(p1 * x, p2 * x))
    # at the start (p1 = 1, p2 = 0, beta = 1) it is Swish, x * sigmoid(x) (ACON-A)
    fresh = layers.AconC(1)
    y = torch.tensor([-1.0, 0.0, 2.0]).view(1, 1, 1, 3)
    assert torch.allclose(fresh(y), y * torch.sigmoid(y))


def test_meta_acon_c_generates_beta_from_each_image_alone():
    torch.manual_seed(0)
    meta = layers.MetaAconC(16).eval()
    images = torch.randn(2, 16, 4, 4)
    before = meta(images)
    changed = images.clone()
    changed[1] += 5.0
    after = meta(changed)
    assert torch.equal(before[0], after[0])          # image 0's beta ignores image 1
    assert not torch.allclose(before[1], after[1])
    beta = meta.beta_generator(images.mean(dim=(2, 3), keepdim=True))
    assert torch.allclose(before, meta.switch(images, beta)) and beta.shape == (2, 16, 1, 1)


def test_the_dct_basis_at_zero_frequency_is_average_pooling():
    x = torch.arange(12.0).view(3, 4)
    assert torch.isclose((x * layers.dct_basis(3, 4, 0, 0)).sum(), x.mean())
    # a 2x2 map, frequency (1, 0): cos(pi/4) and cos(3 pi/4) down the rows, / (H W)
    expected = torch.tensor([[1.0, 1.0], [-1.0, -1.0]]) * math.cos(math.pi / 4) / 4
    assert torch.allclose(layers.dct_basis(2, 2, 1, 0), expected)
    assert torch.isclose(layers.dct_basis(4, 4, 1, 2).sum(), torch.tensor(0.0), atol=1e-7)
    with pytest.raises(ValueError, match="outside a 2x2 map"):
        layers.dct_basis(2, 2, 2, 0)


def test_fcanet_frequencies_scale_from_the_7x7_grid():
    assert layers.scaled_frequencies([(6, 0), (3, 5)], 8) == [(6, 0), (3, 5)]
    assert layers.scaled_frequencies([(6, 0), (3, 5), (0, 1)], 2) == [(1, 0), (0, 1), (0, 0)]


def test_fcanet_with_only_the_zero_frequency_is_squeeze_excitation():
    torch.manual_seed(0)
    fca = layers.MultiSpectralAttention(8, size=4, reduction=2, frequencies=[(0, 0)] * 4)
    se = layers.SqueezeExcitation(8, reduction=2)
    se.load_state_dict(fca.excitation.state_dict())
    x = torch.randn(3, 8, 4, 4)
    assert torch.allclose(fca(x), se(x), atol=1e-6)


def test_fcanet_refuses_a_width_or_a_map_it_does_not_fit():
    with pytest.raises(ValueError, match="do not divide into them"):
        layers.MultiSpectralAttention(24, size=8)          # 16 frequencies
    fca = layers.MultiSpectralAttention(32, size=8)
    with pytest.raises(ValueError, match="DCT is 8x8 but the feature map is 2x2"):
        fca(torch.randn(1, 32, 2, 2))


def test_squeeze_excitation_scales_each_channel_by_one_factor():
    torch.manual_seed(0)
    x = torch.rand(2, 6, 3, 5) + 0.5
    ratio = layers.SqueezeExcitation(6, reduction=2)(x) / x
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio))
    assert ((ratio > 0) & (ratio < 1)).all()


def test_coordinate_attention_gates_by_row_and_column():
    torch.manual_seed(0)
    ca = layers.CoordinateAttention(16).eval()  # eval: BN is a per-position affine map
    x = torch.randn(1, 16, 5, 6)
    changed = x.clone()
    changed[0, :, 2, 3] += 3.0
    difference = (ca(changed) - ca(x)).abs().sum(dim=1)[0]     # (H, W)
    others = torch.ones(5, 6, dtype=torch.bool)
    others[2, :] = False
    others[:, 3] = False
    assert torch.all(difference[others] == 0)    # neither its row nor its column: untouched
    assert difference[2, 0] > 0 and difference[0, 3] > 0       # its row's and column's gates


def test_cbam_only_attenuates():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 6, 6)
    assert torch.all(layers.CBAM(16)(x).abs() <= x.abs())


def test_unknown_names_are_one_clear_error():
    with pytest.raises(ValueError, match="unknown attention 'eca'; choose one of none, ca"):
        layers.attention("eca", 8)
    with pytest.raises(ValueError, match="unknown activation 'gelu'; choose one of relu"):
        layers.activation("gelu", 8)
    with pytest.raises(ValueError, match="unknown SE gate"):
        layers.SqueezeExcitation(8, gate="tanh")
