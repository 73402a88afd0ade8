"""Target codecs: round trips, the pixel convention, soft-argmax, 2.5D/3D, bones."""
import numpy as np
import pytest
import torch

from handlib.data import codecs


def _points(rng, n, low, high):
    return rng.uniform(low, high, (n, 2)).astype(np.float32)


def test_heatmap_round_trip_within_a_quarter_heatmap_pixel():
    rng = np.random.default_rng(0)
    kp = _points(rng, 21, 16, 240)  # away from the borders of a 256 input
    heatmaps = codecs.encode_heatmaps(kp, None, 256, 64, sigma=2.0)
    assert heatmaps.shape == (21, 64, 64) and heatmaps.dtype == np.float32
    decoded, confidence = codecs.decode_heatmaps(heatmaps[None], 256)
    error_in_heatmap_px = np.abs(decoded[0] - kp) * 64 / 256
    assert error_in_heatmap_px.max() < 0.25
    assert (confidence > 0.85).all()


def test_decoding_accepts_torch_and_single_samples():
    kp = np.array([[10.3, 20.7], [50.0, 33.3]], np.float32)
    heatmaps = codecs.encode_heatmaps(kp, None, 64, 32, sigma=1.5)
    from_torch, _ = codecs.decode_heatmaps(torch.from_numpy(heatmaps)[None], 64)
    single, _ = codecs.decode_heatmaps(heatmaps, 64)
    np.testing.assert_allclose(from_torch[0], single)
    np.testing.assert_allclose(single, kp, atol=0.5)


def test_pixel_convention_centres_are_at_half_integers():
    heatmaps = codecs.encode_heatmaps(np.array([[2.5, 5.5]]), None, 8, 8, sigma=1.0)
    assert heatmaps[0, 5, 2] == pytest.approx(1.0)  # row = y, column = x
    kp, _ = codecs.decode_heatmaps(heatmaps, 8)
    np.testing.assert_allclose(kp[0], [2.5, 5.5], atol=1e-5)


def test_zero_weight_gives_an_empty_map():
    heatmaps = codecs.encode_heatmaps(np.array([[8.5, 8.5], [4.5, 4.5]]), np.array([1, 0]), 16,
                                      16, 1.0)
    assert heatmaps[0].max() > 0.9 and not heatmaps[1].any()


def test_soft_argmax_is_resunet_eq_1_2():
    kp = np.array([[20.25, 40.5], [30.0, 17.75]], np.float32)  # >= 3 sigma from the borders
    heatmaps = torch.from_numpy(codecs.encode_heatmaps(kp, None, 64, 32, sigma=1.5))[None]
    # with logits = log(Gaussian) and beta = 1 the softmax is that Gaussian: its mean is exact
    logits = heatmaps.clamp_min(1e-30).log()
    exact = codecs.soft_argmax(logits, beta=torch.tensor([1.0, 1.0]), input_size=64)
    np.testing.assert_allclose(exact[0].numpy(), kp, atol=1e-3)
    # beta -> 0: the uniform distribution's mean, the map centre
    flat = codecs.soft_argmax(heatmaps, beta=0.0)
    np.testing.assert_allclose(flat[0].numpy(), [[16.0, 16.0]] * 2, atol=1e-4)
    beta = torch.tensor([5.0, 5.0], requires_grad=True)
    codecs.soft_argmax(heatmaps, beta).sum().backward()
    assert beta.grad is not None and torch.isfinite(beta.grad).all()


def test_25d_round_trip_and_lifting_with_K():
    rng = np.random.default_rng(1)
    K = np.array([[300.0, 0, 128], [0, 300.0, 128], [0, 0, 1]])
    kp3d = np.c_[rng.uniform(-60, 60, (21, 2)), rng.uniform(380, 460, 21)].astype(np.float32)
    kp2d = (kp3d @ K.T)[:, :2] / kp3d[:, 2:]
    heatmaps, rel = codecs.encode_25d(kp2d, kp3d, None, 256, 64, depth_range_mm=400)
    assert np.abs(rel).max() <= 1
    kp2d_back, rel_mm = codecs.decode_25d(heatmaps[None], rel[None], 256, depth_range_mm=400)
    np.testing.assert_allclose(rel_mm[0], kp3d[:, 2] - kp3d[0, 2], atol=1e-3)
    lifted = codecs.lift_25d(kp2d, rel_mm[0], kp3d[0, 2], K)
    np.testing.assert_allclose(lifted, kp3d, atol=1e-2)
    assert np.abs(kp2d_back[0] - kp2d).max() < 1.0


def test_3d_heatmap_round_trip_within_a_quarter_voxel():
    rng = np.random.default_rng(2)
    kp2d = _points(rng, 21, 16, 112)
    rel = rng.uniform(-150, 150, 21).astype(np.float32)
    volumes = codecs.encode_heatmaps_3d(kp2d, rel, None, 128, 32, depth_bins=32,
                                        depth_range_mm=400, sigma=1.5)
    assert volumes.shape == (21, 32, 32, 32)
    kp, z, _ = codecs.decode_heatmaps_3d(volumes[None], 128, depth_range_mm=400)
    assert (np.abs(kp[0] - kp2d) * 32 / 128).max() < 0.25
    assert (np.abs(z[0] - rel) * 32 / 400).max() < 0.25


def test_bones_are_resunet_eq_3_and_sum_back_to_the_joints():
    rng = np.random.default_rng(3)
    kp3d = rng.normal(0, 50, (2, 21, 3))
    bones = codecs.encode_bones(kp3d)
    assert bones.shape == (2, 20, 3)
    np.testing.assert_allclose(bones[0, 0], kp3d[0, 1] - kp3d[0, 0])  # wrist -> thumb base
    np.testing.assert_allclose(bones[0, 1], kp3d[0, 2] - kp3d[0, 1])
    np.testing.assert_allclose(codecs.decode_bones(bones, kp3d[:, 0]), kp3d, atol=1e-9)
    as_torch = codecs.decode_bones(codecs.encode_bones(torch.from_numpy(kp3d)),
                                   torch.from_numpy(kp3d[:, 0]))
    np.testing.assert_allclose(as_torch.numpy(), kp3d, atol=1e-9)


