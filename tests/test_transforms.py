"""Transforms keep labels consistent with pixels: crops, augmentation, mirroring, depth."""
import numpy as np
import pytest

from handlib.data import transforms
from handlib.data.synthetic import OWN_PARTS, SyntheticHands, project


@pytest.fixture(scope="module")
def samples():
    return [SyntheticHands("train", 12, 128, framing="hand")[i] for i in range(12)]


def test_crop_matrix_maps_the_box_centre_to_the_output_centre():
    M = transforms.crop_matrix((40, 60), 20, 64)
    np.testing.assert_allclose(transforms.apply_affine(M, [[40, 60], [30, 50], [50, 70]]),
                               [[32, 32], [0, 0], [64, 64]], atol=1e-5)
    shifted = transforms.crop_matrix((40, 60), 20, 64, rotation_deg=90, scale=2, shift=(0.1, 0))
    np.testing.assert_allclose(transforms.apply_affine(shifted, [[40, 60]]), [[38.4, 32]],
                               atol=1e-4)


def test_warping_follows_the_pixel_convention():
    image = np.zeros((8, 8, 3), np.uint8)
    image[2, 5] = 255  # the pixel containing the point (5.5, 2.5)
    M = transforms.crop_matrix((4, 4), 8, 16)  # a plain 2x upscale
    warped = transforms.warp_sample({"image": image, "kp2d": np.array([[5.5, 2.5]])}, M, 16)
    x, y = warped["kp2d"][0]
    assert (x, y) == (11.0, 5.0)
    assert warped["image"][4:6, 10:12].min() > 100  # the 2x2 block around (11, 5) is lit


def test_augmented_crops_keep_the_labels_consistent(samples):
    rng = np.random.default_rng(0)
    on_own_part = checked = 0
    for sample in samples:
        aug = transforms.sample_augmentation(rng, {"rotation": 45, "scale": [0.8, 1.2],
                                                   "shift": 0.1})
        centre, side = transforms.bbox_centre_size(sample["bbox"])
        M = transforms.crop_matrix(centre, 1.3 * side, 96, **aug)
        out = transforms.warp_sample(sample, M, 96)
        assert out["image"].shape == (96, 96, 3) and out["mask"].shape == (96, 96)
        np.testing.assert_allclose(project(out["K"], out["kp3d"]), out["kp2d"], atol=2e-3)
        inside = np.all((out["kp2d"] >= 0) & (out["kp2d"] < 96), axis=1)
        for j in np.flatnonzero(sample["visible"] & inside):
            x, y = out["kp2d"][j].astype(int)
            on_own_part += out["mask"][y, x] in OWN_PARTS[j]
            checked += 1
        x, y, w, h = out["bbox"]
        assert (out["kp2d"][inside] >= [x - 1, y - 1]).all()
        assert (out["kp2d"][inside] <= [x + w + 1, y + h + 1]).all()
    assert checked > 100 and on_own_part / checked > 0.95


def test_mirroring_turns_a_left_hand_into_a_consistent_right_hand(samples):
    from handlib.data.hand_model import palm_normal

    left = next(s for s in samples if s["side"] == "left")
    right = transforms.mirror_sample(left)
    assert right["side"] == "right" and right["meta"]["mirrored"]
    np.testing.assert_array_equal(right["image"], left["image"][:, ::-1])
    np.testing.assert_allclose(project(right["K"], right["kp3d"]), right["kp2d"], atol=2e-3)
    np.testing.assert_allclose(right["kp2d"][:, 0], 128 - left["kp2d"][:, 0], atol=1e-4)
    # the mirrored hand has the anatomy of a right hand: same palm normal rule, x flipped
    np.testing.assert_allclose(palm_normal(right["kp3d"], "right"),
                               palm_normal(left["kp3d"], "left") * [-1, 1, 1], atol=1e-5)
    back = transforms.mirror_sample(right)
    np.testing.assert_allclose(back["kp2d"], left["kp2d"], atol=1e-4)
    np.testing.assert_allclose(back["K"], left["K"], atol=1e-4)


def test_depth_normalisation_is_crossinfonet_section_3_5():
    depth = np.array([[400.0, 525.0], [0.0, 275.0]], np.float32)
    out = transforms.normalise_depth(depth, centre_z_mm=400, cube_mm=250)
    np.testing.assert_allclose(out, [[0.0, 1.0], [1.0, -1.0]])
    kp = transforms.normalise_kp3d(np.array([[400.0, 0, 525]]), np.array([400.0, 0, 400]), 250)
    np.testing.assert_allclose(kp, [[0, 0, 1]])


def test_colour_jitter_changes_only_colours(samples):
    image = samples[0]["image"]
    rng = np.random.default_rng(0)
    assert transforms.colour_jitter(image, rng, 0.0) is image
    jittered = transforms.colour_jitter(image, rng, 0.3)
    assert jittered.shape == image.shape and jittered.dtype == np.uint8
    assert not np.array_equal(jittered, image)


def test_bad_augmentation_options_are_named():
    with pytest.raises(ValueError, match="unknown augmentation option"):
        transforms.sample_augmentation(np.random.default_rng(0), {"rotate": 10})


def test_denormalise_image_inverts_normalise_image():
    image = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    restored = transforms.denormalise_image(transforms.normalise_image(image))
    assert restored.shape == (5, 4, 3)
    assert np.allclose(restored, image / 255.0, atol=1e-6)


def test_follow_rotation_turns_3d_labels_with_the_image():
    # a camera with f = 100 px and its principal point at the crop centre (50, 50); the crop is
    # the identity but for a 90-degree turn, so a point 50 mm right of the axis ends 50 mm up
    K = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
    turned = transforms.crop_matrix((50, 50), 100, 100, rotation_deg=90)
    unrotated = transforms.crop_matrix((50, 50), 100, 100)
    points = np.array([[50.0, 0.0, 500.0], [0.0, 0.0, 400.0], [np.nan, np.nan, np.nan]])
    sample = {"K": K, "kp3d": points, "centre_mm": np.array([0.0, 0.0, 450.0])}
    out = transforms.follow_rotation(sample, turned, unrotated)
    np.testing.assert_allclose(out["kp3d"][:2], [[0.0, -50.0, 500.0], [0.0, 0.0, 400.0]],
                               atol=1e-4)
    assert np.isnan(out["kp3d"][2]).all()                  # no label stays no label
    np.testing.assert_allclose(out["centre_mm"], [0.0, 0.0, 450.0], atol=1e-4)
    np.testing.assert_allclose(out["K"], K, atol=1e-6)     # the unrotated crop of this camera
    moved = transforms.apply_affine(turned, points[:2, :2] / points[:2, 2:] * 100 + 50)
    np.testing.assert_allclose(out["kp3d"][:2, :2] / out["kp3d"][:2, 2:] * 100 + 50, moved,
                               atol=1e-4)                  # they project where the image put them
