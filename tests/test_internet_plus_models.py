"""InterNet+'s extractor (Table 1) and its variants: shapes row by row against the paper's table,
Table 3's parameter count, where the shortcuts, attention and activations sit, the wiring (what
responds when one input image changes) and the clear errors for configurations that do not fit."""
import pytest
import torch

from handlib import models, papers
from handlib.models.layers import CBAM, CoordinateAttention, MetaAconC, MultiSpectralAttention
from handlib.models.layers import SqueezeExcitation
from handlib.papers.internet_plus.models import (TABLE_1, Extractor, InvertedResidual,
                                                 ResidualBlock, scaled)

SMALL = {"input_size": 64, "width": 0.25, "depth_bins": 4, "root_bins": 4, "hidden": 16,
         "deconv_channels": 8}


def count(model, kind) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


@pytest.fixture(scope="module")
def paper_size():
    return Extractor()


def test_every_row_has_table_1s_output_shape(paper_size):
    outputs = paper_size.row_outputs(torch.zeros(1, 3, 256, 256))
    table = papers.table("internet_plus", "1")
    assert [row.name for row in TABLE_1] == list(table.index[1:])   # every row but the input
    for row in TABLE_1:
        printed = tuple(int(v) for v in table.loc[row.name, "Dimensionality"].split(" × "))
        assert tuple(outputs[row.key].shape[1:]) == printed, row.name


def test_the_extractor_has_table_3s_size(paper_size):
    parameters = sum(p.numel() for p in paper_size.parameters())
    assert parameters / 1e6 == pytest.approx(11.12, abs=0.015)      # ours 11.113 M
    assert parameters * 4 / 2**20 == pytest.approx(42.42, abs=0.05)  # MiB of float32


def test_shortcuts_attention_and_activations_sit_where_table_1_puts_them(paper_size):
    blocks = {row.name: paper_size.layers[row.key] for row in TABLE_1
              if row.kind == "inverted_residual"}
    with_shortcut = [name for name, block in blocks.items() if block.shortcut]
    assert with_shortcut == [f"Inverted Residual {i}" for i in (2, 4, 5, 7, 8, 10)]
    with_ca = [name for name, block in blocks.items()
               if isinstance(block.attention, CoordinateAttention)]
    assert with_ca == [f"Inverted Residual {i}" for i in (1, 3, 6, 9, 11, 12, 13)]
    assert isinstance(paper_size.layers["separable_conv_2"][-1], MetaAconC)
    assert count(paper_size.layers["fcanet_layer"], MultiSpectralAttention) == 1
    assert isinstance(paper_size.layers["final_conv"][-1], torch.nn.LeakyReLU)


def test_each_variant_changes_only_its_part():
    built = {name: models.build(name, **SMALL) for name in (
        "internet_plus", "internet_plus_no_ca", "internet_plus_se", "internet_plus_cbam",
        "internet_plus_no_fcanet", "internet_plus_relu", "internet_plus_residual")}
    assert count(built["internet_plus"], CoordinateAttention) == 7
    assert count(built["internet_plus_no_ca"], CoordinateAttention) == 0
    assert count(built["internet_plus_se"], CoordinateAttention) == 0
    # SE in CA's seven places, plus the FcaNet layer's own excitation
    assert count(built["internet_plus_se"], SqueezeExcitation) == 7 + 1
    assert count(built["internet_plus_cbam"], CBAM) == 7
    assert count(built["internet_plus_no_fcanet"], MultiSpectralAttention) == 0
    assert count(built["internet_plus_relu"], MetaAconC) == 0
    assert count(built["internet_plus_residual"], InvertedResidual) == 0
    assert count(built["internet_plus_residual"], ResidualBlock) == 13
    for name, model in built.items():
        if name != "internet_plus_no_fcanet":
            assert count(model, MultiSpectralAttention) == 1, name


def test_every_head_sees_its_own_image_only():
    torch.manual_seed(0)
    model = models.build("internet_plus", **SMALL)
    for module in model.modules():  # heads start near zero; give every signal some size
        if isinstance(module, (torch.nn.Linear, torch.nn.ConvTranspose2d)):
            torch.nn.init.normal_(module.weight, std=0.5)
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # running statistics: the mean over the passes below
    with torch.no_grad():  # BN statistics of real activations, as after training
        for _ in range(3):
            model(torch.randn(8, 3, 64, 64))
    model.eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = model(images)
        changed = images.clone()
        changed[1, :, 20:40, 20:40] += 2.0
        after = model(changed)
    for key in ("heatmaps3d", "root_depth", "hand_type"):
        assert torch.equal(before[key][0], after[key][0]), key          # image 0 untouched
        assert not torch.equal(before[key][1], after[key][1]), key     # image 1 responds
    assert before["heatmaps3d"].shape == (2, 42, 4, 16, 16)


def test_widths_stay_multiples_of_eight():
    assert [scaled(c, 0.25) for c in (16, 24, 40, 80, 1280)] == [8, 8, 8, 24, 320]
    assert scaled(960, 1.0) == 960


def test_configurations_that_do_not_fit_are_clear_errors():
    with pytest.raises(ValueError, match="input_size must be a multiple of 32, got 100"):
        Extractor(input_size=100)
    with pytest.raises(ValueError, match="unknown block 'dense'"):
        Extractor(block="dense")
    with pytest.raises(ValueError, match=r"one ratio per inverted residual block \(13\), got 2"):
        Extractor(expansions=(6, 6))
    with pytest.raises(ValueError, match="unknown attention 'eca'"):
        Extractor(attention="eca", width=0.25, input_size=64)
    model = Extractor(input_size=64, width=0.25)
    with pytest.raises(ValueError, match="DCT is 2x2 but the feature map is 4x4"):
        model(torch.zeros(1, 3, 128, 128))
