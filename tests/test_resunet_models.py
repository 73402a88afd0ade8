"""ResUnet (paper 4) and its controls: the ResNet-34 contracting path and the Unet-Block widths,
what each builder outputs, the learnable soft-argmax β (eq. 1) and its guard, the skip wiring,
the bone head through the ``bones3d`` codec (eq. 3), the loss (eq. 4 and our 2D terms) on
targets with known errors, and one short training run."""
import pytest
import torch

from handlib import codecs, losses, models
from handlib.codecs.bones import decode_bones
from handlib.skeleton import BONES, NUM_JOINTS, PARENTS

SMALL = {"width": 0.25, "fc": 16}
BUILDERS = ("resunet", "resunet_fixed_beta", "resunet_argmax", "resunet_joints",
            "resunet_no_skips", "resnet34_regression")


def build(name: str, **options):
    torch.manual_seed(0)
    return models.build(name, **{**SMALL, **options}).eval()


def an_image(seed: int = 0, batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, 128, 128, generator=torch.Generator().manual_seed(seed))


def test_the_contracting_path_is_resnet34_read_at_five_levels():
    with torch.device("meta"):
        model = models.build("resunet")
        levels = model.contracting(torch.empty(1, 3, 128, 128))
    # torchvision's resnet34 without its fc (test_backbones checks it with the classifier:
    # 21,797,672 - 512 x 1000 - 1000)
    assert sum(p.numel() for p in model.contracting.resnet.parameters()) == 21_284_672
    assert [tuple(level.shape[1:]) for level in levels] == [
        (64, 64, 64), (64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)]
    assert [block.convs[-1][0].out_channels for block in model.blocks] == [256, 128, 64, 64]
    assert model.head[-1].out_channels == NUM_JOINTS


def test_each_builder_returns_its_outputs():
    shapes = {}
    for name in BUILDERS:
        with torch.no_grad():
            out = build(name)(an_image(batch=2))
        shapes[name] = {key: tuple(value.shape) for key, value in out.items()}
    soft = {"kp2d": (2, 21, 2), "kp2d_block1": (2, 21, 2), "heatmaps_latent": (2, 21, 64, 64),
            "beta": (2, 21), "beta_block1": (2, 21), "bones": (2, 20, 3)}
    assert shapes["resunet"] == soft
    assert shapes["resunet_fixed_beta"] == soft
    assert shapes["resunet_no_skips"] == soft
    assert shapes["resunet_joints"] == {**soft, "kp3d_rel_direct": (2, 21, 3)}
    assert shapes["resunet_argmax"] == {"heatmaps": (2, 21, 64, 64), "bones": (2, 20, 3)}
    assert shapes["resnet34_regression"] == {"kp2d": (2, 21, 2), "bones": (2, 20, 3)}


def test_learnable_beta_starts_at_beta_init_gets_a_gradient_and_stays_positive():
    model = build("resunet", beta_init=2.5)
    out = model(an_image())
    assert torch.allclose(out["beta"], torch.full((1, 21), 2.5))
    out["kp2d"].sum().backward()
    assert model.beta.theta.grad is not None and model.beta.theta.grad.abs().sum() > 0
    # a step that drives beta far below zero: softplus keeps it positive (floored)
    optimiser = torch.optim.SGD([model.beta.theta], lr=1e6)
    optimiser.zero_grad()
    (1e3 * model.beta().sum()).backward()
    optimiser.step()
    assert (model.beta() > 0).all()
    assert torch.isfinite(model(an_image())["kp2d"]).all()


def test_fixed_beta_is_a_buffer_not_a_parameter():
    model = build("resunet_fixed_beta", beta_init=3.0)
    assert not any("beta" in name for name, _ in model.named_parameters())
    assert torch.equal(model.beta(), torch.full((21,), 3.0))
    model(an_image())["kp2d"].sum().backward()
    assert model.beta().grad is None and not model.beta().requires_grad


@pytest.mark.parametrize("name", ["resunet", "resunet_fixed_beta", "resunet_no_skips"])
@pytest.mark.parametrize("beta_init", [0.0, -1.0])
def test_a_non_positive_beta_init_is_refused(name, beta_init):
    with pytest.raises(ValueError, match="beta_init must be > 0"):
        models.build(name, **SMALL, beta_init=beta_init)


def test_options_that_do_not_fit_are_clear_errors():
    with pytest.raises(ValueError, match="no soft-argmax beta"):
        models.build("resunet_argmax", **SMALL, beta_init=1.0)
    with pytest.raises(ValueError, match="multiple of 32"):
        models.build("resunet", **SMALL, input_size=100)
    with pytest.raises(ValueError, match="joints must be 21"):
        models.build("resnet34_regression", joints=14)
    with pytest.raises(TypeError):
        models.build("resunet", **SMALL, depth=50)
    with pytest.raises(TypeError):
        models.build("resnet34_regression", beta_init=1.0)


def test_the_2d_path_sees_the_image():
    model = build("resunet")
    image = an_image()
    changed = image.clone()
    changed[..., :8, :8] += 1.0  # the top-left corner only
    with torch.no_grad():
        assert not torch.equal(model(image)["kp2d"], model(changed)["kp2d"])


def kp2d_with_level_zeroed(model, level: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``kp2d`` as is and with contracting level ``level`` (0 stem, 1-4 F1-F4) zeroed in what
    the decoder receives (the deeper levels are computed from the true one)."""
    image = an_image()
    with torch.no_grad():
        before = model(image)["kp2d"]
        handle = model.contracting.register_forward_hook(
            lambda module, inputs, levels: [torch.zeros_like(x) if k == level else x
                                            for k, x in enumerate(levels)])
        after = model(image)["kp2d"]
        handle.remove()
    return before, after


def test_the_decoder_reads_f1_through_its_skip_and_without_skips_it_does_not():
    before, after = kp2d_with_level_zeroed(build("resunet"), 1)
    assert not torch.equal(before, after)
    no_skips = build("resunet_no_skips")
    before, after = kp2d_with_level_zeroed(no_skips, 1)
    assert torch.equal(before, after)
    before, after = kp2d_with_level_zeroed(no_skips, 4)
    assert not torch.equal(before, after)


def descendants(joint: int) -> set[int]:
    """``joint`` and every joint below it in ``skeleton.PARENTS``."""
    found = set()
    for j in range(NUM_JOINTS):
        k = j
        while k != -1 and k != joint:
            k = PARENTS[k]
        if k == joint:
            found.add(j)
    return found


def test_a_change_to_one_bone_moves_exactly_its_child_joint_and_their_descendants():
    codec = codecs.build({"name": "bones3d"})
    with torch.no_grad():
        bones = build("resunet")(an_image())["bones"]
    before = codec.decode_crop({"bones": bones}, {})["kp3d_rel"]
    k = BONES.index((5, 6))  # index finger MCP -> PIP
    delta = torch.tensor([7.0, -3.0, 11.0])
    moved = bones.clone()
    moved[:, k] += delta
    after = codec.decode_crop({"bones": moved}, {})["kp3d_rel"]
    shift = torch.from_numpy(after - before)[0]
    below = descendants(6)
    assert below == {6, 7, 8}
    for joint in range(NUM_JOINTS):
        expected = delta if joint in below else torch.zeros(3)
        torch.testing.assert_close(shift[joint], expected, atol=1e-3, rtol=0)


def test_the_direct_joint_control_decodes_back_to_its_joints():
    with torch.no_grad():
        out = build("resunet_joints")(an_image(batch=2))
    joints = out["kp3d_rel_direct"]
    assert torch.equal(joints[:, 0], torch.zeros(2, 3))  # the wrist at the origin
    decoded = codecs.build({"name": "bones3d"}).decode_crop(out, {})["kp3d_rel"]
    torch.testing.assert_close(torch.from_numpy(decoded), joints, atol=1e-3, rtol=0)


def bones_batch(bones: torch.Tensor | None = None) -> dict:
    return {"bones": torch.zeros(1, 20, 3) if bones is None else bones,
            "bone_weight": torch.ones(1, 20)}


def test_the_2d_coordinate_terms_on_known_errors():
    target = torch.zeros(1, NUM_JOINTS, 2)
    weight = torch.ones(1, NUM_JOINTS)
    predicted = torch.zeros(1, NUM_JOINTS, 2)
    predicted[0, 3] = torch.tensor([3.0, 4.0])  # 5 px off at a 128 px crop
    predicted[0, 7] = 100.0
    weight[0, 7] = 0.0                          # unlabelled: contributes nothing
    outputs = {"kp2d": predicted, "kp2d_block1": predicted, "bones": torch.zeros(1, 20, 3)}
    batch = {"kp2d_target": target, "kp2d_weight": weight, **bones_batch()}
    terms = losses.build("resunet")(outputs, batch)
    per_joint = 25 / 128 ** 2 / 20              # the mean over the 20 labelled joints
    assert terms["kp2d"].item() == pytest.approx(per_joint)
    assert terms["kp2d_block1"].item() == pytest.approx(0.5 * per_joint)
    assert terms["bones"].item() == 0.0
    assert "loss" not in terms                  # the engine sums the terms itself
    weighted = losses.build("resunet", weight_2d=2.0, weight_block1=0.0)(outputs, batch)
    assert set(weighted) == {"kp2d", "bones"}
    assert weighted["kp2d"].item() == pytest.approx(2 * per_joint)


def test_the_heatmap_term_of_the_argmax_control():
    weight = torch.zeros(1, NUM_JOINTS)
    weight[0, :10] = 1.0
    outputs = {"heatmaps": torch.ones(1, NUM_JOINTS, 4, 4), "bones": torch.zeros(1, 20, 3)}
    batch = {"heatmaps": torch.zeros(1, NUM_JOINTS, 4, 4), "target_weight": weight,
             **bones_batch()}
    terms = losses.build("resunet", two_d="heatmaps", weight_2d=2.0)(outputs, batch)
    assert terms["heatmaps"].item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="needs the model output 'heatmaps'"):
        losses.build("resunet", two_d="heatmaps")({"bones": torch.zeros(1, 20, 3)}, batch)


def test_eq_4_on_a_bone_off_by_100_mm():
    outputs = {"kp2d": torch.zeros(1, NUM_JOINTS, 2), "bones": torch.zeros(1, 20, 3)}
    target = torch.zeros(1, 20, 3)
    target[0, 4, 0] = 100.0                  # one bone, 100 mm in x: one bone_unit
    target[0, 9] = 1000.0
    batch = {"kp2d_target": torch.zeros(1, NUM_JOINTS, 2),
             "kp2d_weight": torch.ones(1, NUM_JOINTS), **bones_batch(target)}
    batch["bone_weight"][0, 9] = 0.0         # unlabelled
    assert losses.build("resunet")(outputs, batch)["bones"].item() == pytest.approx(0.5)
    assert losses.build("resunet", weight_3d=3.0)(outputs, batch)["bones"].item() == \
        pytest.approx(1.5)


def test_the_joint_term_scores_a_joint_only_when_its_whole_path_is_labelled():
    target = torch.zeros(1, 20, 3)
    target[0, BONES.index((0, 1)), 0] = 100.0   # the thumb's four joints all at x = 100 mm
    outputs = {"kp2d": torch.zeros(1, NUM_JOINTS, 2),
               "kp3d_rel_direct": torch.zeros(1, NUM_JOINTS, 3)}
    batch = {"kp2d_target": torch.zeros(1, NUM_JOINTS, 2),
             "kp2d_weight": torch.ones(1, NUM_JOINTS), **bones_batch(target)}
    loss = losses.build("resunet", three_d="joints")
    assert loss(outputs, batch)["joints"].item() == pytest.approx(0.5 * 4)
    batch["bone_weight"][0, BONES.index((1, 2))] = 0.0  # joints 2-4 lose a bone on their path
    assert loss(outputs, batch)["joints"].item() == pytest.approx(0.5 * 1)
    torch.testing.assert_close(decode_bones(target, torch.zeros(1, 3))[0, 1:5, 0],
                               torch.full((4,), 100.0))


def test_a_few_training_steps_lower_the_loss_and_reach_the_first_convolution():
    model = build("resunet").train()
    generator = torch.Generator().manual_seed(1)
    batch = {"image": an_image(batch=2),
             "kp2d_target": 128 * torch.rand(2, NUM_JOINTS, 2, generator=generator),
             "kp2d_weight": torch.ones(2, NUM_JOINTS),
             "bones": 30 * torch.randn(2, 20, 3, generator=generator),
             "bone_weight": torch.ones(2, 20)}
    loss_fn = losses.build("resunet")
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    first_conv = model.contracting.resnet.stem[0][0].weight
    history = []
    for step in range(6):
        optimiser.zero_grad()
        terms = loss_fn(model(batch["image"]), batch)
        sum(terms.values()).backward()
        if step == 0:
            assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0
        optimiser.step()
        history.append({name: value.item() for name, value in terms.items()})
    assert sum(history[-1].values()) < sum(history[0].values())
    assert history[-1]["kp2d"] < history[0]["kp2d"]


def soft_argmax_with_host_checks(maps: torch.Tensor, beta: torch.Tensor,
                                 input_size: int) -> torch.Tensor:
    """Eqs. 1-2 as the forward computed them before it stopped reading β back to the host (its
    check) and copying the pixel scale to the device."""
    assert (beta > 0).all()
    b, j, h, w = maps.shape
    probability = torch.softmax(beta.view(1, j, 1) * maps.reshape(b, j, -1),
                                dim=-1).reshape(b, j, h, w)
    x = (probability.sum(dim=2) * (torch.arange(w, dtype=maps.dtype) + 0.5)).sum(dim=-1)
    y = (probability.sum(dim=3) * (torch.arange(h, dtype=maps.dtype) + 0.5)).sum(dim=-1)
    return torch.stack([x, y], dim=-1) * torch.tensor([input_size / w, input_size / h])


@pytest.mark.parametrize("name", ["resunet", "resunet_fixed_beta"])
def test_the_forward_gives_the_same_joints_without_reading_beta_on_the_host(name):
    model = build(name, beta_init=1.7)
    with torch.no_grad():
        out = model(an_image(batch=2))
        block1 = model.block1_maps(model.blocks[0](*reversed(model.contracting(
            an_image(batch=2))[-2:]))).float()
    assert torch.equal(out["kp2d"], soft_argmax_with_host_checks(
        out["heatmaps_latent"].float(), out["beta"][0], 128))
    assert torch.equal(out["kp2d_block1"], soft_argmax_with_host_checks(
        block1, out["beta_block1"][0], 128))


@pytest.mark.parametrize("name", ["resunet", "resunet_joints"])
def test_the_forward_never_waits_for_the_device(name):
    """On the meta device (shapes without values) any read of a value on the host raises, as
    β's check (``nonzero().tolist()``) did twice per forward: the forward must run there."""
    with torch.device("meta"):
        model = models.build(name, **SMALL)
        out = model(torch.empty(2, 3, 128, 128))
    assert out["kp2d"].shape == (2, NUM_JOINTS, 2) and out["bones"].device.type == "meta"
