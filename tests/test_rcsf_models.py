"""RCSF, its Table-4 variants and baselines: shapes and parameter counts at 256², and the losses
of RCSF §3.3 (eq. 1-3, OHKM) and CPN on hand-made tensors with known values."""
import pytest
import torch

from handlib import losses
from handlib.models import build

#: Parameter count and output keys/shapes of every Table 1-4 model at 256² (21 joints).
MODELS = {
    "rcsf": (31_438_698, {"heatmaps": (2, 21, 64, 64), "global_heatmaps": (2, 21, 64, 64)}),
    "rcsf_high_res_first": (
        36_945_770, {"heatmaps": (2, 21, 64, 64), "global_heatmaps": (2, 21, 64, 64)}
    ),
    "rcsf_global_only": (27_101_013, {"heatmaps": (2, 21, 64, 64)}),
    "cpn50": (27_056_658, {"heatmaps": (2, 21, 64, 64), "global_heatmaps": (2, 4, 21, 64, 64)}),
    "cpn101": (46_048_786, {"heatmaps": (2, 21, 64, 64), "global_heatmaps": (2, 4, 21, 64, 64)}),
    "hrnet_w32": (28_536_245, {"heatmaps": (2, 21, 64, 64)}),
    "hrnet_w48": (63_595_941, {"heatmaps": (2, 21, 64, 64)}),
}

TINY = {
    "rcsf": dict(channels=16, backbone_width=8, backbone_layers=(1, 1, 1, 1)),
    "rcsf_high_res_first": dict(channels=16, backbone_width=8, backbone_layers=(1, 1, 1, 1)),
    "rcsf_global_only": dict(channels=16, backbone_width=8, backbone_layers=(1, 1, 1, 1)),
    "cpn50": dict(channels=16, backbone_width=8, backbone_layers=(1, 1, 1, 1)),
    "cpn101": dict(channels=16, backbone_width=8, backbone_layers=(1, 1, 1, 1)),
    "hrnet_w32": dict(width=8, blocks=1, modules=(1, 1, 1), stem_channels=16),
    "hrnet_w48": dict(width=8, blocks=1, modules=(1, 1, 1), stem_channels=16),
}


@pytest.mark.parametrize("name", MODELS)
def test_shapes_and_parameter_count_at_256(name):
    parameters, shapes = MODELS[name]
    with torch.device("meta"):  # shapes propagate without memory or compute
        model = build(name).eval()
        out = model(torch.empty(2, 3, 256, 256))
    assert sum(p.numel() for p in model.parameters()) == parameters
    assert {key: tuple(value.shape) for key, value in out.items()} == shapes


def test_rcsf_size_is_near_the_papers_table_7():
    # Table 7: 120.20 MB. float32 parameters of our reading of the architecture, in MiB:
    size_mib = MODELS["rcsf"][0] * 4 / 2**20
    assert abs(size_mib - 120.20) / 120.20 < 0.01


@pytest.mark.parametrize("name", TINY)
def test_tiny_models_train_end_to_end(name):
    torch.manual_seed(0)
    model = build(name, **TINY[name])
    out = model(torch.randn(2, 3, 64, 64))
    assert tuple(out["heatmaps"].shape) == (2, 21, 16, 16)
    out["heatmaps"].square().mean().backward()
    first_conv = next(p for p in model.parameters() if p.dim() == 4)
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0


def test_variants_differ_only_in_regional_net():
    with torch.device("meta"):
        ours, high_first, global_only = (
            build(n) for n in ("rcsf", "rcsf_high_res_first", "rcsf_global_only")
        )
    assert global_only.regional_net is None
    assert ours.regional_net.stage_levels[0] == (3,)  # stride 32 first
    assert high_first.regional_net.stage_levels[0] == (0,)  # stride 4 first
    global_params = sum(p.numel() for p in global_only.parameters())
    assert sum(p.numel() for p in ours.global_net.parameters()) == global_params


def test_unknown_design_is_rejected():
    from handlib.papers.rcsf.models import RCSF

    with pytest.raises(ValueError, match="design"):
        RCSF(design="sideways")


# ---------------------------------------------------------------- losses


def batch_with(target: torch.Tensor, weight: torch.Tensor | None = None) -> dict:
    batch = {"heatmaps": target}
    if weight is not None:
        batch["target_weight"] = weight
    return batch


def test_heatmap_mse_known_value():
    # joint j of sample b predicts a constant (j + 1) against a zero target: error (j+1)^2
    pred = torch.arange(1.0, 4.0).reshape(1, 3, 1, 1).expand(2, 3, 4, 4)
    out = losses.build("heatmap_mse")({"heatmaps": pred}, batch_with(torch.zeros(2, 3, 4, 4)))
    assert out["heatmap"].item() == pytest.approx(1 + 4 + 9)  # summed over joints (eq. 1)
    mean = losses.build("heatmap_mse", joint_reduction="mean")
    value = mean({"heatmaps": pred}, batch_with(torch.zeros(2, 3, 4, 4)))["heatmap"]
    assert value.item() == pytest.approx(14 / 3)


def test_target_weight_masks_joints():
    pred = torch.ones(2, 3, 4, 4)
    weight = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    out = losses.build("heatmap_mse")({"heatmaps": pred}, batch_with(torch.zeros_like(pred), weight))
    assert out["heatmap"].item() == pytest.approx((2 + 1) / 2)


def test_ohkm_keeps_exactly_m_keypoints_and_only_their_gradient_flows():
    torch.manual_seed(0)
    joints, m = 21, 11
    target = torch.zeros(2, joints, 4, 4)
    # distinct per-joint errors, different ranking in each sample
    scale = torch.stack([torch.randperm(joints), torch.randperm(joints)]).float() + 1.0
    pred = (scale[:, :, None, None] * torch.ones(2, joints, 4, 4)).requires_grad_()
    out = losses.build("ohkm", m=m)({"heatmaps": pred}, batch_with(target))
    hardest = torch.topk(scale, m, dim=1).indices
    expected = (scale.gather(1, hardest) ** 2).sum(dim=1).mean()
    assert out["ohkm"].item() == pytest.approx(expected.item())
    out["ohkm"].backward()
    has_grad = pred.grad.abs().flatten(2).sum(dim=2) > 0
    assert has_grad.sum(dim=1).tolist() == [m, m]
    for sample in range(2):
        assert set(torch.nonzero(has_grad[sample]).flatten().tolist()) == set(
            hardest[sample].tolist()
        )


def test_ohkm_with_all_joints_equals_plain_l2():
    torch.manual_seed(1)
    pred, target = torch.rand(3, 21, 8, 8), torch.rand(3, 21, 8, 8)
    plain = losses.build("heatmap_mse")({"heatmaps": pred}, batch_with(target))["heatmap"]
    for m in (21, None):
        mined = losses.build("ohkm", m=m)({"heatmaps": pred}, batch_with(target))["ohkm"]
        assert mined.item() == pytest.approx(plain.item())
    with pytest.raises(ValueError, match="m >= 1"):
        losses.build("ohkm", m=0)({"heatmaps": pred}, batch_with(target))


def test_rcsf_total_loss_is_global_l2_plus_regional_ohkm():
    # GlobalNet off by 1 on every joint, RegionalNet off by j on joint j (j = 1..4)
    target = torch.zeros(1, 4, 2, 2)
    outputs = {
        "global_heatmaps": torch.ones(1, 4, 2, 2),
        "heatmaps": torch.arange(1.0, 5.0).reshape(1, 4, 1, 1).expand(1, 4, 2, 2),
    }
    terms = losses.build("rcsf", m=2)(outputs, batch_with(target))
    assert set(terms) == {"global", "regional"}
    assert terms["global"].item() == pytest.approx(4.0)  # eq. (1): 4 joints × 1
    assert terms["regional"].item() == pytest.approx(16 + 9)  # eq. (2): the 2 hardest
    no_ohkm = losses.build("rcsf", m=None)(outputs, batch_with(target))
    assert no_ohkm["regional"].item() == pytest.approx(1 + 4 + 9 + 16)


def test_cpn_loss_sums_global_levels_and_mines_refine():
    target = torch.zeros(1, 3, 2, 2)
    levels = torch.stack([torch.full((1, 3, 2, 2), float(v)) for v in (1, 2, 3, 4)], dim=1)
    outputs = {"global_heatmaps": levels, "heatmaps": torch.full((1, 3, 2, 2), 2.0)}
    terms = losses.build("cpn", m=1)(outputs, batch_with(target))
    assert terms["global"].item() == pytest.approx(3 * (1 + 4 + 9 + 16))
    assert terms["refine"].item() == pytest.approx(4.0)
    with pytest.raises(ValueError, match="levels"):
        losses.build("cpn")({"global_heatmaps": levels[:, 0], "heatmaps": levels[:, 0]},
                            batch_with(target))


def test_loss_errors_are_clear():
    with pytest.raises(ValueError, match="unknown loss"):
        losses.build("l7")
    with pytest.raises(ValueError, match="heatmap_size"):
        losses.build("heatmap_mse")(
            {"heatmaps": torch.zeros(1, 21, 8, 8)}, batch_with(torch.zeros(1, 21, 16, 16))
        )


def test_rcsf_loss_trains_a_tiny_model():
    torch.manual_seed(0)
    model = build("rcsf", **TINY["rcsf"])
    image, target = torch.randn(2, 3, 64, 64), torch.rand(2, 21, 16, 16)
    terms = losses.build("rcsf", m=11)(model(image), batch_with(target, torch.ones(2, 21)))
    sum(terms.values()).backward()
    grads = [p.grad for p in model.global_net.backbone.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
