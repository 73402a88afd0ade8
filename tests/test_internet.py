"""InterNet (handlib.models.internet) and its loss (handlib.losses.internet): wiring checked by
perturbing what each output must and must not depend on, and the loss on hand-made targets."""
import math

import numpy as np
import pytest
import torch

from handlib import codecs, losses, models
from handlib.codecs.heatmap3d import render_volumes
from handlib.models.internet import expected_bin

TINY = {"width": 8, "layers": [1, 1, 1, 1], "depth_bins": 8, "root_bins": 8,
        "deconv_channels": 16, "hidden": 16}


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return models.build("internet", **TINY).eval()


def test_outputs_have_the_heatmap3d_codecs_layout(tiny):
    with torch.no_grad():
        out = tiny(torch.randn(2, 3, 64, 64))
    assert out["heatmaps3d"].shape == (2, 42, 8, 16, 16)  # two hands x 21 joints, stride 4
    assert out["root_depth"].shape == (2,) and out["hand_type"].shape == (2, 2)
    assert ((out["root_depth"] > 0.5 - 1e-6) & (out["root_depth"] < 7.5 + 1e-6)).all()


def test_each_hand_has_its_own_heat_map_branch(tiny):
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = tiny(image)
        tiny.joint_branches[1][-1].bias += 1.0  # the left hand's output layer
        after = tiny(image)
    changed = (after["heatmaps3d"] - before["heatmaps3d"]).abs().flatten(2).amax(-1)[0]
    assert (changed[:21] == 0).all() and (changed[21:] > 0.5).all()
    assert torch.equal(after["root_depth"], before["root_depth"])
    assert torch.equal(after["hand_type"], before["hand_type"])


def test_root_depth_and_hand_type_read_the_pooled_trunk_only(tiny):
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = tiny(image)
        tiny.root_head[-1].bias[3] += 50.0  # the root heat map peaks at bin 3
        tiny.hand_type_head[-1].bias[0] += 2.0
        after = tiny(image)
    assert torch.equal(after["heatmaps3d"], before["heatmaps3d"])
    assert after["root_depth"].item() == pytest.approx(3.5, abs=1e-3)  # bin centre of bin 3
    assert after["hand_type"][0, 0] - before["hand_type"][0, 0] == pytest.approx(2.0, abs=1e-5)
    assert after["hand_type"][0, 1] == before["hand_type"][0, 1]


def test_expected_bin_is_the_soft_argmax_at_bin_centres():
    logits = torch.full((2, 4), -1e4)
    logits[0, 0] = logits[1, 2] = logits[1, 3] = 0.0
    assert expected_bin(logits).tolist() == pytest.approx([0.5, 3.0])


def _batch(joint_hm, sigma=1.0):
    b, j = joint_hm.shape[:2]
    return {"joint_hm": joint_hm, "joint_weight": torch.ones(b, j), "volume_sigma":
            torch.full((b,), sigma), "root_depth_target": torch.tensor([2.0] * b),
            "root_depth_weight": torch.ones(b), "hand_type": torch.tensor([[1.0, 0.0]] * b),
            "hand_type_weight": torch.ones(b)}


def test_the_loss_is_zero_on_its_own_targets_and_weights_each_term():
    loss = losses.build("internet")
    joint_hm = torch.tensor([[[3.5, 4.5, 2.5]] * 42])
    batch = _batch(joint_hm)
    # the targets are the reference's: Gaussians of peak 255
    perfect = {"heatmaps3d": losses.INTERNET_HEATMAP_PEAK * render_volumes(joint_hm, 8, 8, 1.0),
               "root_depth": torch.tensor([2.0]), "hand_type": torch.tensor([[30.0, -30.0]])}
    terms = loss(perfect, batch)
    assert terms["joint_heatmap"] == 0 and terms["rel_root_depth"] == 0
    assert terms["hand_type"] < 1e-10
    off = {**perfect, "root_depth": torch.tensor([3.5]), "hand_type": torch.zeros(1, 2)}
    terms = loss(off, batch)
    assert terms["rel_root_depth"].item() == pytest.approx(1.5)
    assert terms["hand_type"].item() == pytest.approx(math.log(2))
    assert loss(off, {**batch, "root_depth_weight": torch.zeros(1)})["rel_root_depth"] == 0


def test_the_hand_type_term_ignores_frames_whose_hand_type_is_not_valid():
    """InterHand2.6M's ``hand_type_valid``: the reference multiplies it into the hand-type loss;
    it was ignored."""
    loss = losses.build("internet")
    joint_hm = torch.tensor([[[3.5, 4.5, 2.5]] * 42] * 2)
    batch = _batch(joint_hm)
    outputs = {"heatmaps3d": losses.INTERNET_HEATMAP_PEAK * render_volumes(joint_hm, 8, 8, 1.0),
               "root_depth": torch.tensor([2.0, 2.0]),
               # the first frame's hand type right, the second's wrong
               "hand_type": torch.tensor([[30.0, -30.0], [-30.0, 30.0]])}
    assert loss(outputs, batch)["hand_type"].item() == pytest.approx(15.0, rel=1e-4)
    batch["hand_type_weight"] = torch.tensor([1.0, 0.0])
    assert loss(outputs, batch)["hand_type"].item() < 1e-10


def test_the_codec_weights_the_hand_type_by_the_items_validity():
    codec = codecs.build({"name": "heatmap3d", "input_size": 64, "heatmap_size": 8,
                          "depth_bins": 8})
    item = {"kp2d": np.zeros((42, 2), np.float32), "hand_valid": np.array([True, False]),
            "labelled": np.ones(42, bool), "in_frame": np.ones(42, bool)}
    assert codec.encode(item)["hand_type_weight"] == 1.0
    assert codec.encode({**item, "hand_type_valid": np.bool_(False)})["hand_type_weight"] == 0.0


def test_the_loss_ignores_unweighted_joints_and_renders_at_the_codecs_sigma():
    loss = losses.build("internet")
    joint_hm = torch.tensor([[[3.5, 4.5, 2.5]] * 42])
    batch = _batch(joint_hm)
    volumes = losses.INTERNET_HEATMAP_PEAK * render_volumes(joint_hm, 8, 8, 1.0)
    wrong = volumes.clone()
    wrong[0, 5] = 0.0
    assert loss({"heatmaps3d": wrong, "root_depth": torch.tensor([2.0]),
                 "hand_type": torch.zeros(1, 2)}, batch)["joint_heatmap"] > 0
    batch["joint_weight"][0, 5] = 0.0
    assert loss({"heatmaps3d": wrong, "root_depth": torch.tensor([2.0]),
                 "hand_type": torch.zeros(1, 2)}, batch)["joint_heatmap"] == 0
    wider = _batch(joint_hm, sigma=2.0)
    assert loss({"heatmaps3d": volumes, "root_depth": torch.tensor([2.0]),
                 "hand_type": torch.zeros(1, 2)}, wider)["joint_heatmap"] > 0


def _loss_with_sigma_read_on_the_host(outputs: dict, batch: dict) -> dict[str, torch.Tensor]:
    """The loss as it was before it read ``volume_sigma`` on the device: the width copied to
    the host with ``float()`` and the targets rendered with that number."""
    volumes = outputs["heatmaps3d"].float()
    depth_bins, _, width = volumes.shape[-3:]
    sigma = float(batch["volume_sigma"].reshape(-1)[0])
    cells = torch.arange(width, dtype=torch.float32) + 0.5
    bins = torch.arange(depth_bins, dtype=torch.float32) + 0.5
    x, y, z = (batch["joint_hm"][..., k].float()[..., None] for k in range(3))
    gx = torch.exp(-((cells - x) ** 2) / (2 * sigma ** 2))
    gy = torch.exp(-((cells - y) ** 2) / (2 * sigma ** 2))
    gz = torch.exp(-((bins - z) ** 2) / (2 * sigma ** 2))
    target = losses.INTERNET_HEATMAP_PEAK * (
        gz[..., :, None, None] * gy[..., None, :, None] * gx[..., None, None, :])
    weight = batch["joint_weight"].to(volumes.dtype)[..., None, None, None]
    root_error = (outputs["root_depth"].float() - batch["root_depth_target"].float()).abs()
    return {
        "joint_heatmap": ((volumes - target) ** 2 * weight).mean(),
        "rel_root_depth": (root_error * batch["root_depth_weight"].float()).mean(),
        "hand_type": (torch.nn.functional.binary_cross_entropy_with_logits(
            outputs["hand_type"].float(), batch["hand_type"].float(), reduction="none"
        ).mean(dim=1) * batch["hand_type_weight"].float()).mean(),
    }


def _random_loss_inputs(sigma: float, device: str = "cpu") -> tuple[dict, dict]:
    generator = torch.Generator().manual_seed(0)
    joint_hm = torch.rand(3, 42, 3, generator=generator) * torch.tensor([16.0, 16.0, 8.0])
    batch = {**_batch(joint_hm, sigma), "joint_weight": (torch.rand(3, 42, generator=generator)
                                                          > 0.2).float()}
    outputs = {"heatmaps3d": 255 * torch.rand(3, 42, 8, 16, 16, generator=generator),
               "root_depth": 8 * torch.rand(3, generator=generator),
               "hand_type": torch.randn(3, 2, generator=generator)}
    return ({key: value.to(device) for key, value in outputs.items()},
            {key: value.to(device) for key, value in batch.items()})


@pytest.mark.parametrize("sigma", [2.5, 1.7, 0.3])
def test_the_loss_reads_the_width_on_the_device_with_the_same_values(sigma):
    outputs, batch = _random_loss_inputs(sigma)
    found = losses.build("internet")(outputs, batch)
    expected = _loss_with_sigma_read_on_the_host(outputs, batch)
    assert found.keys() == expected.keys()
    for name in expected:
        assert torch.equal(found[name], expected[name]), name


def test_the_loss_never_waits_for_the_device():
    """On the meta device (shapes without values) any read of a value on the host raises, as
    ``float(volume_sigma)`` did: the loss must run there end to end."""
    outputs, batch = _random_loss_inputs(2.5, device="meta")
    terms = losses.build("internet")(outputs, batch)
    assert all(value.device.type == "meta" and value.shape == () for value in terms.values())
