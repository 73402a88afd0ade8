"""Codecs: the pixel convention, every codec's round trip (encode, then decode the targets as a
model that predicted them exactly would, and get the labels back within a stated tolerance),
the crop inverse on a sample whose answer is known, and the codecs' clear errors."""
import numpy as np
import pytest
import torch

from handlib import codecs
from handlib.codecs import geometry
from handlib.codecs.bones import check_tree, decode_bones, encode_bones
from handlib.codecs.depth_crop import depth_centre
from handlib.codecs.heatmap2d import decode_heatmaps, encode_heatmaps, parabola_offset
from handlib.codecs.heatmap3d import decode_volumes, render_volumes
from handlib.codecs.softargmax import soft_argmax
from handlib.data.transforms import crop_matrix, mirror_matrix, mirror_sample, warp_sample
from handlib.skeleton import BONES, NUM_JOINTS


def _points(rng, n, low, high):
    return rng.uniform(low, high, (n, 2)).astype(np.float32)


def test_heatmap_round_trip_within_a_quarter_heatmap_pixel():
    rng = np.random.default_rng(0)
    kp = _points(rng, 21, 16, 240)  # away from the borders of a 256 input
    heatmaps = encode_heatmaps(kp, None, 256, 64, sigma=2.0)
    assert heatmaps.shape == (21, 64, 64) and heatmaps.dtype == np.float32
    decoded, confidence = decode_heatmaps(heatmaps[None], 256)
    error_in_heatmap_px = np.abs(decoded[0] - kp) * 64 / 256
    assert error_in_heatmap_px.max() < 0.25
    assert (confidence > 0.85).all()


def test_decoding_accepts_torch_and_single_samples():
    kp = np.array([[10.3, 20.7], [50.0, 33.3]], np.float32)
    heatmaps = encode_heatmaps(kp, None, 64, 32, sigma=1.5)
    from_torch, _ = decode_heatmaps(torch.from_numpy(heatmaps)[None], 64)
    single, _ = decode_heatmaps(heatmaps, 64)
    np.testing.assert_allclose(from_torch[0], single)
    np.testing.assert_allclose(single, kp, atol=0.5)


def test_pixel_convention_centres_are_at_half_integers():
    heatmaps = encode_heatmaps(np.array([[2.5, 5.5]]), None, 8, 8, sigma=1.0)
    assert heatmaps[0, 5, 2] == pytest.approx(1.0)  # row = y, column = x
    kp, _ = decode_heatmaps(heatmaps, 8)
    np.testing.assert_allclose(kp[0], [2.5, 5.5], atol=1e-5)


def test_zero_weight_gives_an_empty_map():
    heatmaps = encode_heatmaps(np.array([[8.5, 8.5], [4.5, 4.5]]), np.array([1, 0]), 16,
                                      16, 1.0)
    assert heatmaps[0].max() > 0.9 and not heatmaps[1].any()


def test_soft_argmax_is_resunet_eq_1_2():
    kp = np.array([[20.25, 40.5], [30.0, 17.75]], np.float32)  # >= 3 sigma from the borders
    heatmaps = torch.from_numpy(encode_heatmaps(kp, None, 64, 32, sigma=1.5))[None]
    # with logits = log(Gaussian) and beta = 1 the softmax is that Gaussian: its mean is exact
    logits = heatmaps.clamp_min(1e-30).log()
    exact = soft_argmax(logits, beta=torch.tensor([1.0, 1.0]), input_size=64)
    np.testing.assert_allclose(exact[0].numpy(), kp, atol=1e-3)
    # beta -> 0: the uniform distribution's mean, the map centre
    flat = soft_argmax(heatmaps, beta=1e-12)
    np.testing.assert_allclose(flat[0].numpy(), [[16.0, 16.0]] * 2, atol=1e-4)
    beta = torch.tensor([5.0, 5.0], requires_grad=True)
    soft_argmax(heatmaps, beta).sum().backward()
    assert beta.grad is not None and torch.isfinite(beta.grad).all()


def test_bones_are_resunet_eq_3_and_sum_back_to_the_joints():
    rng = np.random.default_rng(3)
    kp3d = rng.normal(0, 50, (2, 21, 3))
    bones = encode_bones(kp3d)
    assert bones.shape == (2, 20, 3)
    np.testing.assert_allclose(bones[0, 0], kp3d[0, 1] - kp3d[0, 0])  # wrist -> thumb base
    np.testing.assert_allclose(bones[0, 1], kp3d[0, 2] - kp3d[0, 1])
    np.testing.assert_allclose(decode_bones(bones, kp3d[:, 0]), kp3d, atol=1e-9)
    as_torch = decode_bones(encode_bones(torch.from_numpy(kp3d)),
                                   torch.from_numpy(kp3d[:, 0]))
    np.testing.assert_allclose(as_torch.numpy(), kp3d, atol=1e-9)


# ----------------------------------------------------------------------------- geometry

K = np.array([[500.0, 0.0, 64.0], [0.0, 500.0, 64.0], [0.0, 0.0, 1.0]])


def a_hand(seed=0, z=450.0) -> np.ndarray:
    """21 camera-frame joints (mm) about ``z`` in front of the camera, wrist first."""
    rng = np.random.default_rng(seed)
    hand = rng.uniform(-40, 40, (NUM_JOINTS, 3))
    hand[:, 2] += z
    return hand


def test_crop_inverse_on_a_point_whose_answer_is_known():
    # the square of side 100 around (150, 80), resized to 50 px: (150, 80) -> (25, 25)
    crop = np.vstack([crop_matrix((150.0, 80.0), 100.0, 50), [0, 0, 1]])
    np.testing.assert_allclose(geometry.uncrop(np.array([[25.0, 25.0]]), crop), [[150, 80]],
                               atol=1e-4)
    np.testing.assert_allclose(geometry.uncrop(np.array([[0.0, 0.0]]), crop), [[100, 30]],
                               atol=1e-4)
    assert geometry.crop_scale(crop) == pytest.approx(0.5)
    # with the mirror of a 200 px wide image first: input (25, 25) is x = 200 - 150 = 50
    mirrored = crop @ np.vstack([mirror_matrix(200), [0, 0, 1]])
    np.testing.assert_allclose(geometry.uncrop(np.array([[25.0, 25.0]]), mirrored), [[50, 80]],
                               atol=1e-4)


def as3x3(M) -> np.ndarray:
    return np.vstack([np.asarray(M, np.float64), [0.0, 0.0, 1.0]])


def test_a_rotated_scaled_mirrored_crop_maps_known_points_there_and_back():
    """A left hand in a 200 px wide image: mirror (x -> 200 - x), then the 100 px square around
    (150, 80) rotated 90 degrees, zoom 1.25 * 64 / 100 = 0.8, shifted 0.1 of 64 px to the right.
    The crop centre lands on (32 + 6.4, 32); 10 px to the left of (50, 80) in the original is
    10 px right in the mirror, which the 90 degree rotation sends 8 px up; 10 px down goes 8 px
    right. Tolerance 1e-4 px (float32)."""
    A = as3x3(crop_matrix((150.0, 80.0), 100.0, 64, rotation_deg=90.0, scale=1.25,
                          shift=(0.1, 0.0))) @ as3x3(mirror_matrix(200))
    original = np.array([[50.0, 80.0], [40.0, 80.0], [50.0, 90.0]])
    expected = np.array([[38.4, 32.0], [38.4, 24.0], [46.4, 32.0]])
    there = original @ A[:2, :2].T + A[:2, 2]
    np.testing.assert_allclose(there, expected, atol=1e-4)
    np.testing.assert_allclose(geometry.uncrop(expected, A), original, atol=1e-4)
    assert geometry.crop_scale(A) == pytest.approx(0.8)


def test_to_sample_frame_undoes_mirror_sample_and_warp_sample_exactly():
    """The pipeline's own transforms on a left hand (mirror, then a rotated, scaled, shifted
    crop): ``to_sample_frame`` of the cropped labels gives the original 2D and 3D labels back,
    and back-projecting the crop's 2D joints with the crop's K gives the crop's 3D joints.
    Tolerances: 1e-3 px, 1e-3 mm (float32 at ~450 mm)."""
    K0 = np.array([[500.0, 0.0, 100.0], [0.0, 500.0, 50.0], [0.0, 0.0, 1.0]])
    hand = a_hand(7)
    sample = {"depth": np.zeros((100, 200), np.float32), "kp2d": geometry.project(hand, K0),
              "kp3d": hand.astype(np.float32), "K": K0.astype(np.float32), "side": "left"}
    M = crop_matrix((110.0, 45.0), 120.0, 64, rotation_deg=-35.0, scale=0.9, shift=(0.05, -0.1))
    cropped = warp_sample(mirror_sample(sample), M, 64)
    crop = as3x3(M) @ as3x3(mirror_matrix(200))
    np.testing.assert_allclose(geometry.back_project(cropped["kp2d"], cropped["kp3d"][:, 2],
                                                     cropped["K"]), cropped["kp3d"], atol=1e-3)
    batch = {"crop": torch.from_numpy(crop[None]), "mirrored": torch.tensor([True])}
    back = geometry.to_sample_frame({"kp2d": cropped["kp2d"][None],
                                     "kp3d": cropped["kp3d"][None]}, batch)
    np.testing.assert_allclose(back["kp2d"][0], sample["kp2d"], atol=1e-3)
    np.testing.assert_allclose(back["kp3d"][0], hand, atol=1e-3)
    # one item without a batch axis: a scalar mirror flag
    np.testing.assert_allclose(geometry.unmirror_3d(cropped["kp3d"], True), hand, atol=1e-3)


def test_uncrop_undoes_a_rotated_scaled_crop_batched():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 300, (2, 5, 2))
    crops = np.stack([np.vstack([crop_matrix((140, 120), 90, 64, rotation_deg=30, scale=1.1,
                                             shift=(0.05, -0.02)), [0, 0, 1]]),
                      np.vstack([crop_matrix((60, 200), 150, 64), [0, 0, 1]])])
    cropped = np.einsum("bij,bkj->bki", crops[:, :2, :2], points) + crops[:, None, :2, 2]
    np.testing.assert_allclose(geometry.uncrop(cropped, crops), points, atol=1e-3)


def test_back_projection_inverts_projection():
    """P^-1(P(p)) = p within 1e-3 mm, for one K and for a batch of Ks."""
    hand = a_hand()
    uv = geometry.project(hand, K)
    np.testing.assert_allclose(geometry.back_project(uv, hand[:, 2], K), hand, atol=1e-3)
    hands = np.stack([hand, a_hand(1, 600.0)])
    Ks = np.stack([K, K * np.array([[2.0], [2.0], [1.0]])])  # f = 1000, c = (128, 128)
    uv = geometry.project(hands, Ks)
    np.testing.assert_allclose(uv[1, 0], K[:2, :2] @ (2 * hands[1, 0, :2] / hands[1, 0, 2])
                               + 2 * K[:2, 2], atol=1e-3)
    np.testing.assert_allclose(geometry.back_project(uv, hands[..., 2], Ks), hands, atol=1e-3)


def test_to_sample_frame_unmirrors_camera_points_only_where_mirrored():
    batch = {"crop": torch.eye(3).expand(2, 3, 3), "mirrored": torch.tensor([True, False])}
    points = np.ones((2, 3, 3), np.float32)
    back = geometry.to_sample_frame({"kp3d": points, "hand_type": np.ones((2, 2))}, batch)
    assert back["kp3d"][0, :, 0].tolist() == [-1, -1, -1] and back["kp3d"][1, 0, 0] == 1
    assert (back["kp3d"][:, :, 1:] == 1).all() and back["hand_type"].shape == (2, 2)


# ----------------------------------------------------------------------------- round trips


def crop_item(hand: np.ndarray) -> dict:
    """A one-hand item in the crop frame of a 128² input (identity crop)."""
    ones = np.ones(NUM_JOINTS, bool)
    return {"kp2d": geometry.project(hand, K), "kp3d": hand.astype(np.float32), "K": K,
            "labelled": ones, "in_frame": ones, "visible": ones, "input_size": 128}


def batch_of(items: list[dict], **extra) -> dict:
    keys = set(items[0]) - {"input_size"}
    batch = {k: torch.as_tensor(np.stack([np.asarray(i[k]) for i in items])) for k in keys}
    batch.update(crop=torch.eye(3).expand(len(items), 3, 3),
                 mirrored=torch.zeros(len(items), dtype=torch.bool), **extra)
    return batch


def test_heatmap2d_round_trip_within_a_fifth_input_pixel():
    """Joints at least 2 heat-map cells from the border come back within 0.2 input px."""
    codec = codecs.build({"name": "heatmap2d", "input_size": 128, "heatmap_size": 32,
                          "sigma": 1.5})
    item = crop_item(a_hand())
    targets = codec.encode(item)
    assert targets["heatmaps"].shape == (21, 32, 32) and targets["target_weight"].all()
    decoded = codec.decode({"heatmaps": torch.from_numpy(targets["heatmaps"])[None]},
                           batch_of([item]))
    inside = ((item["kp2d"] > 8) & (item["kp2d"] < 120)).all(axis=1)
    assert np.abs(decoded["kp2d"][0][inside] - item["kp2d"][inside]).max() < 0.2


def test_heatmap2d_weight_is_labelled_and_in_frame_and_sizes_must_divide():
    codec = codecs.build({"name": "heatmap2d", "input_size": 128, "heatmap_size": 32})
    item = crop_item(a_hand())
    item["labelled"] = item["labelled"].copy()
    item["labelled"][3] = False
    item["in_frame"] = item["in_frame"].copy()
    item["in_frame"][5] = False
    targets = codec.encode(item)
    expected = np.ones(NUM_JOINTS, np.float32)
    expected[[3, 5]] = 0
    assert targets["target_weight"].dtype == np.float32
    np.testing.assert_array_equal(targets["target_weight"], expected)
    assert not targets["heatmaps"][[3, 5]].any() and (targets["heatmaps"][0].max() > 0.5)
    with pytest.raises(ValueError, match="multiple of heatmap_size"):
        codecs.build({"name": "heatmap2d", "input_size": 100, "heatmap_size": 32})


def two_hand_item(seed=0) -> dict:
    right, left = a_hand(seed, 450.0), a_hand(seed + 1, 480.0)
    hands = np.concatenate([right, left])
    ones = np.ones(2 * NUM_JOINTS, bool)
    return {"kp2d": geometry.project(hands, K), "kp3d": hands.astype(np.float32), "K": K,
            "labelled": ones, "in_frame": ones, "visible": ones,
            "hand_valid": np.array([True, True]),
            "root_depth_abs": np.array([right[0, 2], left[0, 2]], np.float32),
            "rel_root": (left[0] - right[0]).astype(np.float32)}


def test_heatmap3d_round_trip_within_a_fifth_voxel():
    """Encode, render the target volumes, decode them as the model's output: joints within a
    fifth of a voxel in x, y and depth, the root depth and hand type exactly as encoded. (The
    log-parabola refinement is exact on a sampled Gaussian, so the actual error is ~1e-5.)"""
    codec = codecs.build({"name": "heatmap3d", "input_size": 128, "heatmap_size": 32,
                          "depth_bins": 32, "depth_range_mm": 400, "sigma": 1.5})
    assert codec.two_slot
    item = two_hand_item()
    targets = codec.encode(item)
    assert targets["joint_weight"].all() and targets["root_depth_weight"] == 1
    assert targets["hand_type"].tolist() == [1.0, 1.0]
    rel = item["kp3d"][21, 2] - item["kp3d"][0, 2]
    assert targets["root_depth_target"] == pytest.approx((rel / 400 + 0.5) * 64, abs=1e-4)
    volumes = render_volumes(torch.from_numpy(targets["joint_hm"])[None], 32, 32, 1.5)
    assert volumes.shape == (1, 42, 32, 32, 32)
    outputs = {"heatmaps3d": volumes, "root_depth": torch.tensor([targets["root_depth_target"]]),
               "hand_type": torch.tensor([[10.0, -10.0]])}
    decoded = codec.decode(outputs, batch_of([item]))
    voxel_px, voxel_mm = 128 / 32, 400 / 32
    assert np.abs(decoded["kp2d"][0] - item["kp2d"]).max() < 0.2 * voxel_px
    np.testing.assert_allclose(decoded["root_depth"][0], rel, atol=1e-3)
    np.testing.assert_allclose(decoded["hand_type"][0], [1 / (1 + np.exp(-10)),
                                                         1 / (1 + np.exp(10))], rtol=1e-6)
    # 3D through the ground-truth wrist depths (InterNet's protocol): within a fifth voxel
    # plus the lateral error the depth error causes at ~450 mm
    assert np.abs(decoded["kp3d"][0] - item["kp3d"]).max() < 0.2 * voxel_mm + 2.0
    hands = item["kp3d"].reshape(2, 21, 3)
    np.testing.assert_allclose(decoded["kp3d_rel"][0], (hands - hands[:, :1]).reshape(42, 3),
                               atol=0.2 * voxel_mm + 2.0)
    np.testing.assert_allclose(decoded["rel_root"][0], item["rel_root"], atol=2.0)


def test_heatmap3d_rel_root_is_the_reference_formula():
    """MRRPE's relative root (InterHand2.6M's evaluate): the left wrist at GT right depth +
    predicted relative root depth + its own predicted wrist-relative depth, minus the right
    wrist at GT right depth + its own. Shift the left wrist's volume one depth bin (12.5 mm) and
    the root depth by 8 mm: rel_root follows by hand-computed back-projection, within 1e-2 mm."""
    codec = codecs.build({"name": "heatmap3d", "input_size": 128, "heatmap_size": 32,
                          "depth_bins": 32, "depth_range_mm": 400, "sigma": 1.5})
    item = two_hand_item(2)
    targets = codec.encode(item)
    joint_hm = targets["joint_hm"].copy()
    joint_hm[21, 2] += 1.0  # +1 depth bin = +12.5 mm for the left wrist
    volumes = render_volumes(torch.from_numpy(joint_hm)[None], 32, 32, 1.5)
    root_bins = targets["root_depth_target"] + 8.0 * 64 / 400  # +8 mm
    decoded = codec.decode({"heatmaps3d": volumes, "root_depth": torch.tensor([root_bins]),
                            "hand_type": torch.zeros(1, 2)}, batch_of([item]))
    right_z = item["root_depth_abs"][0]
    left_z = right_z + (item["kp3d"][21, 2] - item["kp3d"][0, 2]) + 8.0 + 12.5
    (u_r, v_r), (u_l, v_l) = item["kp2d"][0], item["kp2d"][21]
    right = np.array([(u_r - 64) * right_z / 500, (v_r - 64) * right_z / 500, right_z])
    left = np.array([(u_l - 64) * left_z / 500, (v_l - 64) * left_z / 500, left_z])
    np.testing.assert_allclose(decoded["rel_root"][0], left - right, atol=1e-2)
    np.testing.assert_allclose(decoded["root_depth"][0], item["kp3d"][21, 2]
                               - item["kp3d"][0, 2] + 8.0, atol=1e-3)


def host_decode_volumes(volumes, input_size, depth_range_mm):
    """The decoder as it was before it ran on the device (fp32 numpy on the host): the
    reference the device decoder must equal."""
    volumes = np.asarray(volumes).astype(np.float32)
    n, j, d, h, w = volumes.shape
    best = volumes.reshape(n, j, -1).argmax(-1)
    bin_index = best // (h * w)
    plane = np.take_along_axis(volumes, bin_index[..., None, None, None], axis=2)[:, :, 0]
    kp2d, confidence = decode_heatmaps(plane, input_size)
    cell = best % (h * w)
    profile = np.take_along_axis(volumes.reshape(n, j, d, h * w), cell[..., None, None],
                                 axis=3)[..., 0].reshape(n * j, d)
    rows, b = np.arange(n * j), bin_index.ravel()
    inner = (b > 0) & (b < d - 1)
    dz = parabola_offset(profile[rows, np.maximum(b - 1, 0)], profile[rows, b],
                         profile[rows, np.minimum(b + 1, d - 1)]) * inner
    z = ((b + 0.5 + dz) / d - 0.5) * depth_range_mm
    return kp2d, z.reshape(n, j).astype(np.float32), confidence


def hand_made_volumes() -> np.ndarray:
    """(2, 9, 5, 6, 7) volumes whose arg-max is known: ties (the first maximum wins), a peak on
    each border in depth, y and x, a corner, a constant volume and a single voxel."""
    rng = np.random.default_rng(3)
    volumes = rng.uniform(0.0, 0.5, (2, 9, 5, 6, 7)).astype(np.float32)
    peaks = [[(2, 3, 4), (2, 4, 1)], [(0, 3, 3)], [(4, 2, 2)], [(1, 0, 3)], [(3, 5, 2)],
             [(2, 2, 0)], [(1, 3, 6)], [(0, 0, 0), (4, 5, 6)], [(4, 5, 6)]]
    for joint, voxels in enumerate(peaks):
        for k, y, x in voxels:  # two equal peaks: a tie
            volumes[:, joint, k, y, x] = 1.0
            for dk, dy, dx in [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1),
                               (0, 0, -1)]:
                if 0 <= k + dk < 5 and 0 <= y + dy < 6 and 0 <= x + dx < 7:
                    volumes[:, joint, k + dk, y + dy, x + dx] = 0.6 + 0.05 * (dk + 2 * dy + 3 * dx)
    volumes[1, 2] = 0.25  # constant: every voxel ties, the first is taken
    volumes[1, 5] = 0.0
    volumes[1, 5, 3, 1, 5] = 2.0  # one voxel, neighbours at 0: the log floor
    return volumes


def _assert_same_decode(found, expected):
    for a, b in zip(found, expected, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make", ["hand_made", "random", "gaussians", "float64", "bfloat16"])
def test_decoding_volumes_on_the_device_equals_the_host_decoder(make):
    """The device decoder (arg-max and neighbours in torch where the volumes are) returns
    exactly what the fp32 numpy decoder returned, for an array or a CPU tensor."""
    rng = np.random.default_rng(0)
    if make == "hand_made":
        volumes = hand_made_volumes()
    elif make == "random":
        volumes = rng.uniform(0.0, 1.0, (3, 42, 8, 6, 10)).astype(np.float32)
    elif make == "gaussians":  # smooth peaks anywhere, borders included
        joint_hm = rng.uniform([0, 0, 0], [16, 16, 12], (2, 42, 3)).astype(np.float32)
        volumes = render_volumes(torch.from_numpy(joint_hm), 16, 12, 1.5).numpy()
    elif make == "float64":
        volumes = rng.uniform(0.0, 1.0, (2, 4, 5, 6, 7))
    else:  # a model's bf16 output: its ties after rounding, decoded in fp32
        volumes = torch.rand(2, 4, 6, 6, 6, generator=torch.Generator().manual_seed(0),
                             dtype=torch.float32).to(torch.bfloat16)
    reference = volumes.float().numpy() if isinstance(volumes, torch.Tensor) else volumes
    expected = host_decode_volumes(reference, 64, 400.0)
    _assert_same_decode(decode_volumes(volumes, 64, 400.0), expected)
    _assert_same_decode(decode_volumes(torch.as_tensor(volumes), 64, 400.0), expected)


def test_decoding_volumes_copies_only_the_peaks_neighbourhoods_to_the_host(monkeypatch):
    """Every tensor the decoder brings to the host (``.cpu()``, ``.numpy()``) holds at most
    seven numbers per joint, never the (N, J, D, h, w) volumes."""
    copied = []
    for method in ("cpu", "numpy"):
        original = getattr(torch.Tensor, method)

        def recorded(tensor, *args, _original=original, **kwargs):
            copied.append(tensor.numel())
            return _original(tensor, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, method, recorded)
    volumes = torch.rand(2, 42, 8, 8, 8)
    decode_volumes(volumes, 32, 400.0)
    assert copied and max(copied) <= 2 * 42 * 7


def test_decoded_hand_made_volumes_take_the_first_maximum_and_no_offset_on_a_border():
    kp2d, z, confidence = decode_volumes(hand_made_volumes(), 84, 500.0)
    cell = np.array([84 / 7, 84 / 6])  # x, y: the volumes are 7 wide and 6 high
    # the tie of joint 0: voxel (2, 3, 4) comes before (2, 4, 1); refined inside the volume
    assert np.abs(kp2d[0, 0] / cell - [4.5, 3.5]).max() < 0.5
    # joint 7: the corner (0, 0, 0) ties with (4, 5, 6) and is first: no offset on any axis
    np.testing.assert_array_equal(kp2d[:, 7], [0.5 * cell] * 2)
    np.testing.assert_array_equal(z[:, 7], [(0.5 / 5 - 0.5) * 500.0] * 2)
    # the constant volume: its first voxel, unrefined
    np.testing.assert_array_equal(kp2d[1, 2], 0.5 * cell)
    assert confidence[1, 2] == np.float32(0.25) and confidence[0, 0] == 1.0
    assert abs(z[0, 1] - (0.5 / 5 - 0.5) * 500.0) < 1e-4  # depth bin 0: no depth offset
    assert abs(z[0, 2] - (4.5 / 5 - 0.5) * 500.0) < 1e-4  # the last depth bin


def test_heatmap3d_one_hand_slot_and_bad_inputs():
    codec = codecs.build({"name": "heatmap3d", "input_size": 128, "heatmap_size": 32})
    item = two_hand_item()
    item["hand_valid"] = np.array([True, False])
    item["labelled"][21:] = False
    targets = codec.encode(item)
    assert targets["joint_weight"][:21].all() and not targets["joint_weight"][21:].any()
    assert targets["hand_type"].tolist() == [1, 0] and targets["root_depth_weight"] == 0
    with pytest.raises(ValueError, match="two-hand codec"):
        codec.encode(crop_item(a_hand()))
    with pytest.raises(ValueError, match="one-hand model"):
        codec.decode({"heatmaps3d": torch.zeros(1, 21, 4, 4, 4), "root_depth": torch.zeros(1),
                      "hand_type": torch.zeros(1, 2)}, batch_of([two_hand_item()]))
    with pytest.raises(ValueError, match="not in the two-hand layout"):
        codec.decode({"heatmaps3d": torch.zeros(1, 42, 4, 4, 4), "root_depth": torch.zeros(1),
                      "hand_type": torch.zeros(1, 2)}, batch_of([crop_item(a_hand())]))


def test_softargmax2d_and_bones3d_round_trip_as_one_composite_codec():
    """ResUnet's pair: the 2D targets back within 1e-4 px, the bones summed back to the
    wrist-relative joints within 1e-3 mm."""
    codec = codecs.build([{"name": "softargmax2d", "input_size": 128}, {"name": "bones3d"}])
    item = crop_item(a_hand(3))
    targets = codec.encode(item)
    assert set(targets) == {"kp2d_target", "kp2d_weight", "bones", "bone_weight"}
    outputs = {"kp2d": torch.from_numpy(targets["kp2d_target"])[None],
               "bones": torch.from_numpy(targets["bones"])[None]}
    decoded = codec.decode(outputs, batch_of([item]))
    np.testing.assert_allclose(decoded["kp2d"][0], item["kp2d"], atol=1e-4)
    np.testing.assert_allclose(decoded["kp3d_rel"][0], item["kp3d"] - item["kp3d"][0], atol=1e-3)


def test_composite_refuses_two_codecs_with_the_same_targets_or_predictions():
    codec = codecs.build([{"name": "heatmap2d", "input_size": 64, "heatmap_size": 16},
                          {"name": "heatmap2d", "input_size": 64, "heatmap_size": 8}])
    with pytest.raises(ValueError, match=r"both produce the targets \['heatmaps', "):
        codec.encode(crop_item(a_hand()))
    both_3d = codecs.build([{"name": "bones3d"}, {"name": "depth_crop", "input_size": 96}])
    outputs = {"bones": torch.zeros(1, 20, 3), "kp3d_norm": torch.zeros(1, 21, 3)}
    batch = batch_of([crop_item(a_hand())], centre_mm=torch.zeros(1, 3) + 400)
    with pytest.raises(ValueError, match=r"both produce the predictions \['kp3d_rel'\]"):
        both_3d.decode(outputs, batch)
    # the crop is the first part's that has one (bones3d has none: depth_crop's)
    sample = depth_sample(a_hand(5))
    assert both_3d.crop_region(sample)[1] == pytest.approx(
        codecs.build({"name": "depth_crop"}).crop_region(sample)[1])


def depth_sample(hand: np.ndarray, size: int = 128) -> dict:
    """A depth frame with a flat 'hand' patch at the joints' mean depth around their projection."""
    depth = np.zeros((size, size), np.float32)
    uv = geometry.project(hand, K)
    lo, hi = np.floor(uv.min(0)).astype(int), np.ceil(uv.max(0)).astype(int)
    depth[max(lo[1], 0):hi[1], max(lo[0], 0):hi[0]] = hand[:, 2].mean()
    return {"depth": depth, "kp3d": hand.astype(np.float32), "K": K, "kp2d": uv}


def test_depth_crop_round_trip_and_cube_geometry():
    """The window is the 250 mm cube seen at the hand centre; kp3d_norm decodes back to the
    joints within 1e-3 mm and their projection within 1e-3 px."""
    codec = codecs.build({"name": "depth_crop", "input_size": 96, "heatmap_size": 24,
                          "cube_mm": 250, "centre": "labels"})
    hand = a_hand(5)
    centre_px, side = codec.crop_region(depth_sample(hand))
    np.testing.assert_allclose(centre_px, geometry.project(hand.mean(0)[None], K)[0], atol=1e-3)
    assert side == pytest.approx(250 * 500 / hand.mean(0)[2])
    item = {**crop_item(hand), "depth": depth_sample(hand)["depth"]}
    targets = codec.encode(item)
    assert targets["depth"].shape == (1, 128, 128) and targets["depth"].max() <= 1
    assert targets["heatmaps_palm"].shape == (6, 24, 24)
    assert targets["heatmaps_finger"].shape == (15, 24, 24)
    np.testing.assert_allclose(targets["kp3d_norm"].mean(0), 0, atol=1e-5)
    outputs = {"kp3d_norm": torch.from_numpy(targets["kp3d_norm"])[None]}
    decoded = codec.decode(outputs, batch_of([item], centre_mm=torch.from_numpy(
        targets["centre_mm"])[None]))
    np.testing.assert_allclose(decoded["kp3d"][0], hand, atol=1e-3)
    np.testing.assert_allclose(decoded["kp2d"][0], item["kp2d"], atol=1e-3)


def test_depth_crop_per_axis_cube_round_trip():
    """A [200, 300, 250] mm cube: the square window covers its larger face (300 mm), joints are
    normalised per axis, depth by the z side; decode gives the joints back within 1e-3 mm."""
    codec = codecs.build({"name": "depth_crop", "input_size": 96, "cube_mm": [200, 300, 250],
                          "centre": "labels"})
    hand = a_hand(6)
    centre = hand.mean(0)
    assert codec.crop_region(depth_sample(hand))[1] == pytest.approx(300 * 500 / centre[2])
    item = {**crop_item(hand), "depth": depth_sample(hand)["depth"]}
    targets = codec.encode(item)
    np.testing.assert_allclose(targets["kp3d_norm"], (hand - centre) / [100, 150, 125],
                               atol=1e-5)
    assert set(np.unique(targets["depth"])) == {0.0, 1.0}  # the patch at the centre; no reading
    decoded = codec.decode({"kp3d_norm": torch.from_numpy(targets["kp3d_norm"])[None]},
                           batch_of([item], centre_mm=torch.from_numpy(targets["centre_mm"])[None]))
    np.testing.assert_allclose(decoded["kp3d"][0], hand, atol=1e-3)
    np.testing.assert_allclose(decoded["kp3d_rel"][0], hand - hand[0], atol=1e-3)
    with pytest.raises(ValueError, match=r"one number or \[x, y, z\]"):
        codecs.build({"name": "depth_crop", "cube_mm": [200, 300]})


def test_depth_crop_refuses_a_frame_without_hand_pixels_and_a_crop_outside_it():
    codec = codecs.build({"name": "depth_crop", "input_size": 96, "centre": "labels"})
    hand = a_hand(5)
    empty = {**depth_sample(hand), "depth": np.zeros((128, 128), np.float32)}
    with pytest.raises(ValueError, match="no hand pixels near the given centre"):
        codec.crop_region(empty)
    with pytest.raises(ValueError, match="the depth centre needs depth readings"):
        codecs.build({"name": "depth_crop"}).crop_region(empty)
    far_away = {**depth_sample(hand), "centre_mm": np.array([2000.0, 0.0, 450.0])}
    with pytest.raises(ValueError, match="lies outside"):
        codec.crop_region(far_away)


# ----------------------------------------------------------------------------- errors


def test_build_names_the_bad_codec_or_option():
    with pytest.raises(ValueError, match="unknown codec 'voxels'; choose one of heatmap2d"):
        codecs.build({"name": "voxels"})
    with pytest.raises(ValueError, match="no option"):
        codecs.build({"name": "heatmap2d", "input_size": 64, "heatmap_sise": 16})
    with pytest.raises(ValueError, match="multiple"):
        codecs.build({"name": "heatmap2d", "input_size": 64, "heatmap_size": 24})
    with pytest.raises(ValueError, match=r"needs the option\(s\) \['input_size'\]"):
        codecs.build({"name": "heatmap2d"})
    with pytest.raises(ValueError, match="unknown codec None"):
        codecs.build({"heatmap_size": 16})
    with pytest.raises(ValueError, match="a list of them"):
        codecs.build("heatmap2d")


def test_the_registry_maps_every_name_to_its_codec_class():
    assert list(codecs.CODECS) == ["heatmap2d", "heatmap3d", "softargmax2d", "bones3d",
                                   "depth_crop", "scoremap_lift"]
    for name, cls in codecs.CODECS.items():
        assert issubclass(cls, codecs.Codec) and cls.name == name
        assert codecs.codec_class(name) is cls
    assert "voxels" not in codecs.CODECS
    assert isinstance(codecs.build([{"name": "bones3d"}]), codecs.CompositeCodec)


def test_a_model_output_the_codec_does_not_know_is_named():
    codec = codecs.build({"name": "heatmap2d", "input_size": 64, "heatmap_size": 16})
    with pytest.raises(ValueError, match="decodes the model output 'heatmaps'"):
        codec.decode({"kp2d": torch.zeros(1, 21, 2)}, batch_of([crop_item(a_hand())]))


def test_soft_argmax_refuses_non_positive_beta():
    maps = torch.zeros(1, 3, 4, 4)
    with pytest.raises(ValueError, match=r"joints \[1\] have beta \[-0.5\]"):
        soft_argmax(maps, torch.tensor([1.0, -0.5, 2.0]))
    with pytest.raises(ValueError, match="beta must be > 0"):
        soft_argmax(maps, 0.0)
    with pytest.raises(ValueError, match="2 values for 3 joints"):
        soft_argmax(maps, torch.tensor([1.0, 2.0]))


def test_joint_tree_with_a_cycle_or_a_missing_parent_is_refused():
    check_tree(BONES, NUM_JOINTS)  # the canonical tree
    with pytest.raises(ValueError, match="missing parent"):
        check_tree([(0, 1), (5, 2)], 3)
    with pytest.raises(ValueError, match="cycle"):
        check_tree([(0, 1), (1, 2), (2, 1)], 3)
    with pytest.raises(ValueError, match=r"joints \[2\] have no parent"):
        check_tree([(0, 1)], 3)


# ----------------------------------------------------------------------------- the hand centre
#: 100 px focal length, principal point (4, 4): pixel (row, col) back-projects at its centre.
K_SMALL = np.array([[100.0, 0.0, 4.0], [0.0, 100.0, 4.0], [0.0, 0.0, 1.0]])


def small_frame() -> np.ndarray:
    """8x8 mm: a 2x2 'hand' at 500 mm (rows and columns 2-3), a reading 100 mm behind it (row 3,
    column 5: within the band, inside the cube) and a wall at 1500 mm (row 7, column 7)."""
    depth = np.zeros((8, 8), np.float32)
    depth[2:4, 2:4] = 500.0
    depth[3, 5] = 600.0
    depth[7, 7] = 1500.0
    return depth


def test_depth_centre_is_the_centre_of_mass_behind_the_nearest_reading():
    """The readings within cube_z / 2 behind the nearest one, back-projected at pixel centres:
    the 2x2 patch at x, y = (col + 0.5 - 4) * 500 / 100 and the 600 mm reading at
    x = 1.5 * 6, y = -0.5 * 6 mm; the wall 1000 mm behind is neither in the band nor in the
    cube; no label is read."""
    patch = [(c + 0.5 - 4) * 5.0 for c in (2, 3)]  # -7.5, -2.5 mm
    points = [[x, y, 500.0] for x in patch for y in patch] + [[9.0, -3.0, 600.0]]
    expected = np.mean(points, axis=0)
    np.testing.assert_allclose(depth_centre(small_frame(), K_SMALL, np.full(3, 250.0)), expected,
                               atol=1e-9)
    # a 150 mm cube: the 600 mm reading is beyond the band (75 mm) and the refined cube
    np.testing.assert_allclose(depth_centre(small_frame(), K_SMALL, np.full(3, 150.0)),
                               [-5.0, -5.0, 500.0], atol=1e-9)
    sample = {"depth": small_frame(), "K": K_SMALL,
              "kp3d": np.full((21, 3), [40.0, 40.0, 520.0], np.float32)}
    np.testing.assert_allclose(codecs.build({"name": "depth_crop"}).hand_centre(sample),
                               expected, atol=1e-6)


def test_depth_crop_centre_is_a_configured_choice():
    """``labels`` is the joints' mean (the oracle), ``file`` the published centre the loader
    attached, with a clear error naming the file and V2V-PoseNet when it is missing unless
    ``fallback: depth``; an unknown choice is refused."""
    labels = np.full((21, 3), [40.0, 40.0, 520.0], np.float32)
    sample = {"depth": small_frame(), "K": K_SMALL, "kp3d": labels,
              "meta": {"refined_centre_file": "/data/NYU/center_test_refined.txt"}}
    oracle = codecs.build({"name": "depth_crop", "centre": "labels"})
    np.testing.assert_allclose(oracle.hand_centre(sample), [40.0, 40.0, 520.0])
    from_file = codecs.build({"name": "depth_crop", "centre": "file"})
    published = {**sample, "refined_centre_mm": np.array([1.0, 2.0, 510.0], np.float32)}
    np.testing.assert_allclose(from_file.hand_centre(published), [1.0, 2.0, 510.0])
    with pytest.raises(ValueError, match=r"center_test_refined\.txt.*V2V-PoseNet"):
        from_file.hand_centre(sample)
    invalid = {**sample, "refined_centre_mm": np.full(3, np.nan, np.float32)}  # 'invalid' line
    with pytest.raises(ValueError, match="missing or 'invalid'"):
        from_file.hand_centre(invalid)
    fallback = codecs.build({"name": "depth_crop", "centre": "file", "fallback": "depth"})
    np.testing.assert_allclose(fallback.hand_centre(sample),
                               depth_centre(small_frame(), K_SMALL, np.full(3, 250.0)))
    with pytest.raises(ValueError, match="centre must be one of depth, file, labels"):
        codecs.build({"name": "depth_crop", "centre": "joints"})
    with pytest.raises(ValueError, match="fallback"):
        codecs.build({"name": "depth_crop", "centre": "file", "fallback": "labels"})


def test_the_pipeline_crops_around_the_centre_found_on_the_whole_frame():
    """The item's centre is the codec's choice on the sample's own frame, not one found again on
    the crop, and it turns with a rotated crop (it lies on the rotation's axis: unchanged)."""
    from handlib.data.pipeline import PoseDataset

    hand = a_hand(5)
    sample = {**depth_sample(hand), "labelled": np.ones(21, bool), "visible": np.ones(21, bool),
              "side": "right"}
    sample["depth"][:4, :4] = sample["depth"].max() + 100.0  # a reading behind the hand
    spec = {"source": "synthetic", "modality": "depth", "input_size": 32, "two_hands": False,
            "codec": {"name": "depth_crop", "input_size": 32, "heatmap_size": 8}}
    found = depth_centre(sample["depth"], K, np.full(3, 250.0))
    item = PoseDataset([sample], spec, "test").item(0)
    np.testing.assert_allclose(item["centre_mm"], found, atol=1e-3)
    rotated = PoseDataset([sample], {**spec, "augment": {"rotation": 90.0}}, "train",
                          training=True)
    rotated.set_epoch(0)
    np.testing.assert_allclose(rotated.item(0)["centre_mm"], found, atol=1e-2)


def test_a_composite_cuts_its_crop_around_its_depth_parts_hand_centre():
    """A composite holding depth_crop had no hand_centre: the pipeline then fell back to a centre
    recomputed on the cropped frame."""
    composite = codecs.build([{"name": "bones3d"}, {"name": "depth_crop", "centre": "labels"}])
    kp3d = np.array([[0.0, 0.0, 400.0], [10.0, 20.0, 420.0]])
    sample = {"kp3d": kp3d, "labelled": np.array([True, True])}
    np.testing.assert_allclose(composite.hand_centre(sample), [5.0, 10.0, 410.0])
    assert codecs.build([{"name": "bones3d"}]).hand_centre(sample) is None
