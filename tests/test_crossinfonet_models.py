"""CrossInfoNet's Table 1 variants and ablations: what each outputs, Algorithm 1's cross wiring
(which branch responds when the other's preliminary features change), eq. 7's terms on targets
with known errors, and the clear errors for configurations that do not fit."""
import pytest
import torch

from handlib import losses, models
from handlib.papers.crossinfonet.models import Bottleneck, CrossInfoNet
from handlib.skeleton import FINGER_ONLY_JOINTS, NUM_JOINTS, PALM_JOINTS

SMALL = {"width": 8, "layers": [1, 1, 1, 1], "channels": 32, "fc": 32, "dropout": 0.0}


def build(name: str) -> CrossInfoNet:
    torch.manual_seed(0)
    return models.build(name, **SMALL).eval()


def test_each_variant_returns_its_outputs():
    shapes = {}
    for name in ("crossinfonet", "crossinfonet_cross", "crossinfonet_base",
                 "crossinfonet_base_hm", "crossinfonet_single_branch"):
        with torch.no_grad():
            out = build(name)(torch.zeros(2, 1, 96, 96))
        shapes[name] = {key: tuple(value.shape) for key, value in out.items()}
    assert shapes["crossinfonet"] == {
        "heatmaps": (2, 21, 24, 24), "heatmaps_palm": (2, len(PALM_JOINTS), 24, 24),
        "heatmaps_finger": (2, len(FINGER_ONLY_JOINTS), 24, 24),
        "kp3d_palm": (2, len(PALM_JOINTS), 3), "kp3d_finger": (2, len(FINGER_ONLY_JOINTS), 3),
        "kp3d_norm": (2, NUM_JOINTS, 3)}
    assert set(shapes["crossinfonet_cross"]) == {"kp3d_palm", "kp3d_finger", "kp3d_norm"}
    assert set(shapes["crossinfonet_base"]) == {"kp3d_palm", "kp3d_finger", "kp3d_norm"}
    assert set(shapes["crossinfonet_base_hm"]) == {"heatmaps", "kp3d_palm", "kp3d_finger",
                                                   "kp3d_norm"}
    assert set(shapes["crossinfonet_single_branch"]) == {"heatmaps", "kp3d_norm"}


def test_the_paper_size_model_is_resnet50_with_t_at_256_by_12():
    model = models.build("crossinfonet")
    levels = model.pyramid(torch.zeros(1, 1, 96, 96))
    assert [tuple(level.shape[1:]) for level in levels] == [(256, 24, 24), (256, 12, 12),
                                                            (256, 6, 6), (256, 3, 3)]
    assert model.backbone.out_channels == (256, 512, 1024, 2048)
    assert model.palm_regress.hidden[2].out_features == 2048  # Figs. 3 and 6
    assert sum(isinstance(m, Bottleneck) for m in model.modules()) == 16 + 5  # trunk + refinement


def perturb_preliminary(model, branch: str):
    """Outputs of ``model`` with and without a change to P0 (``palm``) or F0 (``finger``)."""
    depth = torch.randn(1, 1, 96, 96)
    block = getattr(model, f"{branch}_block")
    with torch.no_grad():
        before = model(depth)
        handle = block.register_forward_hook(lambda module, inputs, output: output + 1.0)
        after = model(depth)
        handle.remove()
    return before, after


def test_the_cross_connection_feeds_each_branch_the_other_ones_residual():
    # Cross: a change to the palm's P0 reaches the finger branch through F- = T - P0
    before, after = perturb_preliminary(build("crossinfonet"), "palm")
    assert not torch.equal(before["kp3d_finger"], after["kp3d_finger"])
    # Base: the branches are independent, only T is shared
    before, after = perturb_preliminary(build("crossinfonet_base"), "palm")
    assert torch.equal(before["kp3d_finger"], after["kp3d_finger"])
    assert not torch.equal(before["kp3d_palm"], after["kp3d_palm"])
    # without the finger mask F-, the finger branch no longer sees P0
    before, after = perturb_preliminary(build("crossinfonet_palm_mask_only"), "palm")
    assert torch.equal(before["kp3d_finger"], after["kp3d_finger"])
    before, after = perturb_preliminary(build("crossinfonet_finger_mask_only"), "palm")
    assert not torch.equal(before["kp3d_finger"], after["kp3d_finger"])
    assert torch.equal(before["heatmaps"], after["heatmaps"])  # the 24² heat maps come before


def test_eq_7_weighs_each_term_and_skips_unlabelled_joints():
    palm, finger = list(PALM_JOINTS), list(FINGER_ONLY_JOINTS)
    target = torch.zeros(2, NUM_JOINTS, 3)
    weight = torch.ones(2, NUM_JOINTS)
    weight[:, 20] = 0.0  # an unlabelled joint: its error counts nowhere
    outputs = {"kp3d_norm": torch.full((2, NUM_JOINTS, 3), 0.1),
               "kp3d_palm": torch.full((2, len(palm), 3), 0.2),
               "kp3d_finger": torch.zeros(2, len(finger), 3),
               "heatmaps": torch.ones(2, NUM_JOINTS, 24, 24)}
    outputs["kp3d_norm"][:, 20] = 100.0
    batch = {"kp3d_norm": target, "joint_weight": weight,
             "heatmaps": torch.zeros(2, NUM_JOINTS, 24, 24)}
    terms = losses.build("crossinfonet", alpha=0.01, beta=1.0)(outputs, batch)
    assert terms["all_joints"].item() == pytest.approx(20 * 3 * 0.01)      # 20 joints x 3 x 0.1²
    assert terms["palm_joints"].item() == pytest.approx(len(palm) * 3 * 0.04)
    assert terms["finger_joints"].item() == 0.0
    assert terms["heatmaps"].item() == pytest.approx(0.01 * 20 * 24 * 24)  # α Σ over pixels
    without = losses.build("crossinfonet", alpha=0.0)(outputs, batch)
    assert "heatmaps" not in without                                      # the "no HM" rows


def test_configurations_that_do_not_fit_are_clear_errors():
    with pytest.raises(ValueError, match="unknown refinement 'stitch'"):
        CrossInfoNet(refinement="stitch")
    with pytest.raises(ValueError, match="unknown cross mask"):
        CrossInfoNet(masks=("thumb",), **SMALL)
    with pytest.raises(ValueError, match="not among the 14 joints"):
        CrossInfoNet(joints=14, **SMALL)
    with pytest.raises(ValueError, match="multiple of 32"):
        CrossInfoNet(input_size=100, **SMALL)
