"""Depth dataset loaders (NYU, ICVL, MSRA, HANDS2017) on tiny native-format copies with known
values, plus the real NYU frame and the public ICVL test labels when they are present."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from fake_depth_datasets import (
    ICVL_TRAIN,
    write_hands2017,
    write_icvl,
    write_msra,
    write_msra_bin,
    write_nyu,
)
from handlib.data.formats import (
    CorruptFileError,
    DatasetLayoutError,
    check_layout,
    dataset_info,
    open_dataset,
)
from handlib.data.formats import depth as depthlib
from handlib.data.formats.common import project
from handlib.data.formats import icvl, msra, nyu
from handlib.paths import shared_data_dir
from handlib.skeleton import JOINT_NAMES, NUM_JOINTS, finger_joints

CANONICAL = {name: i for i, name in enumerate(JOINT_NAMES)}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Parsed-label caches go to a per-test folder."""
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path / "cache"))


def assert_projects(sample: dict, atol: float = 1e-2) -> None:
    """kp2d is the projection of kp3d with K (the frame conversion is consistent)."""
    valid = sample["joint_valid"]
    np.testing.assert_allclose(
        project(sample["kp3d"][valid], sample["K"]), sample["kp2d"][valid], atol=atol
    )
    assert (sample["kp3d"][valid, 2] > 0).all(), "z must point forward"


def assert_common_fields(sample: dict, name: str, height: int, width: int, native: int) -> None:
    assert sample["depth"].shape == (height, width) and sample["depth"].dtype == np.float32
    assert sample["kp2d"].shape == (NUM_JOINTS, 2) and sample["kp3d"].shape == (NUM_JOINTS, 3)
    assert sample["joint_valid"].shape == (NUM_JOINTS,) and sample["visible"].dtype == bool
    assert sample["kp2d_native"].shape == (native, 2) and sample["kp3d_native"].shape == (native, 3)
    assert len(sample["joint_names_native"]) == native
    assert sample["K"].shape == (3, 3) and sample["K"][1, 1] > 0
    assert sample["side"] == "right" and sample["meta"]["dataset"] == name
    assert np.isnan(sample["kp3d"][~sample["joint_valid"]]).all()
    assert not sample["visible"][~sample["joint_valid"]].any()


# ----------------------------------------------------------------------------------------- NYU
def test_nyu_tiny_copy_loads_field_by_field(tmp_path):
    written = write_nyu(tmp_path)
    check_layout("nyu", tmp_path)
    train = open_dataset("nyu", tmp_path, "train")
    assert len(train) == 2 and len(open_dataset("nyu", tmp_path, "test")) == 1
    sample = train[1]
    truth = written["train"]
    assert_common_fields(sample, "nyu", 480, 640, native=14)
    np.testing.assert_array_equal(sample["depth"], truth["depth"][1])  # G*256+B, R ignored
    # view 1 only, y flipped to the OpenCV frame; the 14 native joints are the evaluation subset
    np.testing.assert_allclose(
        sample["kp3d_native"], truth["xyz_cam"][1][list(nyu.EVAL_JOINTS)], rtol=1e-5
    )
    np.testing.assert_allclose(
        sample["kp2d_native"], truth["uvd"][1][list(nyu.EVAL_JOINTS), :2], rtol=1e-5
    )
    assert sample["joint_names_native"][:2] == ("F1_KNU3_A", "F1_KNU2_B")
    # the joint-order conversion: canonical joint <- NYU joint, by name
    expected = {
        "wrist": "PALM_6", "thumb_MCP": "TH_KNU1_B", "thumb_TIP": "TH_KNU3_A",
        "index_PIP": "F4_KNU2_B", "middle_DIP": "F3_KNU3_B", "little_TIP": "F1_KNU3_A",
    }
    for canonical, native in expected.items():
        np.testing.assert_allclose(
            sample["kp3d"][CANONICAL[canonical]],
            truth["xyz_cam"][1][nyu.JOINT_NAMES.index(native)], rtol=1e-5,
        )
    assert sample["joint_valid"].all()
    assert_projects(sample)
    np.testing.assert_allclose(sample["K"], [[588.03, 0, 320], [0, 587.07, 240], [0, 0, 1]])
    assert sample["meta"]["id"] == "train/depth_1_0000002.png"


def test_nyu_depth_png_encoding_is_green_high_byte_blue_low_byte(tmp_path):
    image = np.zeros((2, 3, 3), dtype=np.uint8)
    image[0, 0] = (0x34, 0x12, 0xFF)  # B, G, R
    path = tmp_path / "depth_1_0000001.png"
    cv2.imwrite(str(path), image)
    assert nyu.read_depth(path)[0, 0] == 0x12 * 256 + 0x34


def test_nyu_canonical_mapping_covers_every_joint_once():
    assert sorted(nyu.CANONICAL_FROM_36) == sorted(set(nyu.CANONICAL_FROM_36))
    # fingertips of the evaluation subset: little, ring, middle, index, thumb (P1, R1, M1, I1, T1)
    tips = [nyu.CANONICAL_FROM_EVAL[finger_joints(f)[3]] for f in ("little", "ring", "middle", "index", "thumb")]
    assert tips == [0, 2, 4, 6, 8]


# ---------------------------------------------------------------------------------------- ICVL
def test_icvl_tiny_copy_splits_and_fields(tmp_path):
    written = write_icvl(tmp_path)
    assert len(open_dataset("icvl", tmp_path, "train")) == 2
    genuine = open_dataset("icvl", tmp_path, "train_genuine")
    assert len(genuine) == 1 and genuine[0]["meta"]["id"] == f"Training/Depth/{ICVL_TRAIN[0]}"
    test = open_dataset("icvl", tmp_path, "test")
    assert [s["meta"]["id"] for s in (test[0], test[1])] == [
        "Testing/Depth/test_seq_1/image_0000.png", "Testing/Depth/test_seq_2/image_0000.png",
    ]
    sample = test[1]
    truth = written["test_seq_2/image_0000.png"]
    assert_common_fields(sample, "icvl", 240, 320, native=16)
    expected_depth = truth["depth"].astype(np.float32)
    expected_depth[0, 0] = 0.0  # 32001 = no reading
    np.testing.assert_array_equal(sample["depth"], expected_depth)
    np.testing.assert_allclose(sample["kp2d_native"], truth["uvd"][:, :2], rtol=1e-6)
    c = icvl.CAMERA
    np.testing.assert_allclose(
        sample["kp3d_native"], depthlib.uvd_to_xyz(truth["uvd"], c.fx, c.fy, c.cx, c.cy), rtol=1e-5
    )
    # only the fingertips are canonical: thumb tip = ICVL joint 3, little tip = 15
    assert sample["joint_valid"].sum() == 5
    np.testing.assert_allclose(sample["kp2d"][CANONICAL["thumb_TIP"]], truth["uvd"][3, :2], rtol=1e-6)
    np.testing.assert_allclose(sample["kp2d"][CANONICAL["little_TIP"]], truth["uvd"][15, :2], rtol=1e-6)
    assert not sample["joint_valid"][CANONICAL["wrist"]]
    assert_projects(sample)


def test_icvl_public_test_labels_parse_to_the_groundtruth_rows():
    data = shared_data_dir()
    folder = data / "depth_eval/evaluation/groundtruth/icvl" if data else None
    if folder is None or not (folder / "test_seq_1.txt").is_file():
        pytest.skip("public ICVL ground truth (shared data depth_eval/) not on this machine")
    names, uvd = icvl.read_labels(folder / "test_seq_1.txt")
    table = np.loadtxt(folder / "icvl_test_groundtruth_label.txt", max_rows=len(names))
    assert names[0] == "test_seq_1/image_0000.png" and len(names) == 702
    np.testing.assert_allclose(uvd.reshape(len(names), -1), table, atol=1e-3)


# ---------------------------------------------------------------------------------------- MSRA
def test_msra_tiny_copy_leave_one_subject_out(tmp_path):
    written = write_msra(tmp_path)
    test = open_dataset("msra", tmp_path, "test_P3")
    train = open_dataset("msra", tmp_path, "train_P3")
    assert len(test) == 17 and len(train) == 8 * 17
    assert {train[i]["meta"]["subject"] for i in range(0, len(train), 17)} == set(msra.SUBJECTS) - {"P3"}
    sample = test[msra.GESTURES.index("TIP")]
    truth = written["P3/TIP/000000"]
    assert sample["meta"]["id"] == "P3/TIP/000000_depth.bin"
    assert_common_fields(sample, "msra", 240, 320, native=21)
    np.testing.assert_array_equal(sample["depth"], truth["depth"])
    left, top, right, bottom = truth["box"]
    np.testing.assert_array_equal(sample["bbox"], [left, top, right - left, bottom - top])
    np.testing.assert_allclose(sample["kp3d_native"], truth["xyz_cam"], rtol=1e-5)  # (x,-y,-z)
    # MSRA order: wrist, index..little, thumb last; canonical: thumb first
    np.testing.assert_allclose(sample["kp3d"][CANONICAL["thumb_MCP"]], truth["xyz_cam"][17], rtol=1e-5)
    np.testing.assert_allclose(sample["kp3d"][CANONICAL["index_MCP"]], truth["xyz_cam"][1], rtol=1e-5)
    np.testing.assert_allclose(sample["kp3d"][CANONICAL["little_TIP"]], truth["xyz_cam"][16], rtol=1e-5)
    assert sample["joint_valid"].all()
    assert_projects(sample)


def test_held_out_validation_part_is_seeded_disjoint_and_covers_the_split(tmp_path):
    write_msra(tmp_path)
    ids = lambda part: [s["meta"]["id"] for s in part]
    whole = ids(open_dataset("msra", tmp_path, "train_P3"))
    fit, val = (ids(open_dataset("msra", tmp_path, f"train_P3:{p}")) for p in ("fit", "val"))
    assert len(val) == round(0.05 * len(whole)) == 7  # 5% of 136 frames
    assert not set(fit) & set(val) and sorted(fit + val) == sorted(whole)
    assert val == ids(open_dataset("msra", tmp_path, "train_P3:val"))  # the same every time
    with pytest.raises(ValueError, match="after ':' comes 'fit'"):
        open_dataset("msra", tmp_path, "train_P3:test")
    with pytest.raises(ValueError, match="has no split 'train_P9'"):
        open_dataset("msra", tmp_path, "train_P9:val")


def test_msra_truncated_bin_and_bad_joint_count_name_the_file(tmp_path):
    depth = np.ones((240, 320), dtype=np.float32)
    path = tmp_path / "000000_depth.bin"
    write_msra_bin(path, depth, (10, 20, 30, 40))
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(CorruptFileError, match="000000_depth.bin"):
        msra.read_depth(path)
    joints = tmp_path / "joint.txt"
    joints.write_text("2\n" + " ".join(["1.0"] * 63) + "\n")
    with pytest.raises(CorruptFileError, match="joint.txt.*2 frames but 1"):
        msra.read_joints(joints)


# ----------------------------------------------------------------------------------- HANDS2017
def test_hands2017_tiny_copy_and_missing_test_labels(tmp_path):
    written = write_hands2017(tmp_path)
    train = open_dataset("hands2017", tmp_path, "train")
    assert len(train) == 2
    sample = train[1]
    truth = written["image_D00000002.png"]
    assert_common_fields(sample, "hands2017", 480, 640, native=21)
    np.testing.assert_array_equal(sample["depth"], truth["depth"].astype(np.float32))
    np.testing.assert_allclose(sample["kp3d_native"], truth["xyz"], rtol=1e-5)
    # BigHand order: Wrist, 5 MCPs, then PIP, DIP, TIP per finger
    np.testing.assert_allclose(sample["kp3d"][CANONICAL["index_MCP"]], truth["xyz"][2], rtol=1e-5)
    np.testing.assert_allclose(sample["kp3d"][CANONICAL["index_PIP"]], truth["xyz"][9], rtol=1e-5)
    np.testing.assert_allclose(sample["kp3d"][CANONICAL["little_TIP"]], truth["xyz"][20], rtol=1e-5)
    assert_projects(sample)
    with pytest.raises(DatasetLayoutError, match="test_annotation_frame.txt"):
        open_dataset("hands2017", tmp_path, "test")


# ------------------------------------------------------------------- a split needs only its files
def test_nyu_test_only_copy_opens_test_and_names_train_files(tmp_path):
    write_nyu(tmp_path, frames={"test": 2})
    check_layout("nyu", tmp_path, "test")
    assert len(open_dataset("nyu", tmp_path, "test")) == 2
    with pytest.raises(DatasetLayoutError, match=r"missing train/joint_data.mat \(needed by split 'train'\)"):
        open_dataset("nyu", tmp_path, "train")
    with pytest.raises(DatasetLayoutError, match="missing train/joint_data.mat"):
        check_layout("nyu", tmp_path)  # the whole copy


def test_icvl_testing_only_copy_opens_test(tmp_path):
    write_icvl(tmp_path)
    shutil.rmtree(tmp_path / "Training")
    assert len(open_dataset("icvl", tmp_path, "test")) == 2
    for split in ("train", "train_genuine"):
        with pytest.raises(DatasetLayoutError) as error:
            open_dataset("icvl", tmp_path, split)
        problem = str(error.value).splitlines()[0]
        assert "Training/labels.txt" in problem and "Training/Depth" in problem
        assert "Testing" not in problem


def test_msra_test_split_needs_only_its_subject(tmp_path):
    write_msra(tmp_path)
    for subject in msra.SUBJECTS[1:]:
        shutil.rmtree(tmp_path / subject)
    check_layout("msra", tmp_path, "test_P0")
    assert len(open_dataset("msra", tmp_path, "test_P0")) == len(msra.GESTURES)
    with pytest.raises(DatasetLayoutError) as error:
        open_dataset("msra", tmp_path, "train_P0")
    problem = str(error.value).splitlines()[0]
    assert "P1/1/joint.txt" in problem and "P0/" not in problem
    with pytest.raises(DatasetLayoutError, match="P1/1/joint.txt"):
        open_dataset("msra", tmp_path, "test_P1")


def test_hands2017_train_needs_no_frame_folder(tmp_path):
    write_hands2017(tmp_path)
    shutil.rmtree(tmp_path / "frame")
    check_layout("hands2017", tmp_path, "train")
    assert len(open_dataset("hands2017", tmp_path, "train")) == 2
    with pytest.raises(DatasetLayoutError, match="frame/test_annotation_frame.txt, frame/images"):
        open_dataset("hands2017", tmp_path, "test")
    with pytest.raises(DatasetLayoutError, match="missing frame/images"):
        check_layout("hands2017", tmp_path)  # the public release: training files and frame/images


# ------------------------------------------------------------------------------ bad data roots
@pytest.mark.parametrize("name", ["nyu", "icvl", "msra", "hands2017"])
def test_missing_root_lists_expected_files_and_download_page(tmp_path, name):
    with pytest.raises(DatasetLayoutError) as error:
        check_layout(name, tmp_path / "nowhere")
    message = str(error.value)
    assert dataset_info(name).url in message and "Expected layout" in message
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="missing"):
        check_layout(name, tmp_path / "empty")


def test_copy_nested_one_level_too_deep_is_reported(tmp_path):
    write_nyu(tmp_path / "dataset")
    with pytest.raises(DatasetLayoutError, match="missing train/joint_data.mat"):
        check_layout("nyu", tmp_path)


def test_truncated_png_and_label_line_name_the_file(tmp_path):
    written = write_hands2017(tmp_path)
    image = tmp_path / "training/images/image_D00000001.png"
    image.write_bytes(image.read_bytes()[:200])
    train = open_dataset("hands2017", tmp_path, "train")
    with pytest.raises(CorruptFileError, match="image_D00000001.png"):
        train[0]
    labels = tmp_path / "training/Training_Annotation.txt"
    lines = labels.read_text().splitlines()
    labels.write_text(lines[0] + "\n" + " ".join(lines[1].split()[:30]) + "\n")
    with pytest.raises(CorruptFileError, match="Training_Annotation.txt: line 2"):
        open_dataset("hands2017", tmp_path, "train")
    assert written


def test_missing_depth_file_is_an_error_not_a_skip(tmp_path):
    write_icvl(tmp_path)
    (tmp_path / "Training/Depth" / ICVL_TRAIN[1]).unlink()
    train = open_dataset("icvl", tmp_path, "train")
    assert len(train) == 2  # lazy: construction reads labels only
    with pytest.raises(DatasetLayoutError, match="45/image_0000.png"):
        train[1]


def test_labels_are_parsed_once_and_cached(tmp_path, monkeypatch):
    write_hands2017(tmp_path / "data")
    first = open_dataset("hands2017", tmp_path / "data", "train")

    def parse_again(*args):
        raise AssertionError("labels parsed a second time")

    monkeypatch.setattr(depthlib, "_parse_label_table", parse_again)
    again = open_dataset("hands2017", tmp_path / "data", "train")
    np.testing.assert_array_equal(again.kp3d_all, first.kp3d_all)


# ------------------------------------------------------------------------------ real NYU frame
def test_real_nyu_frame_depth_agrees_with_its_ground_truth_labels():
    data = shared_data_dir()
    frame = data / "samples/nyu_frame/depth_1_0000001.png" if data else None
    labels = data / "depth_eval/evaluation/groundtruth/nyu/nyu_test_groundtruth_label.txt" if data else None
    if frame is None or not frame.is_file() or not labels.is_file():
        pytest.skip("real NYU frame or public NYU ground truth (shared data) not on this machine")
    depth = nyu.read_depth(frame)
    uvd = np.loadtxt(labels, max_rows=1).reshape(14, 3)  # frame 1 = first line
    surface = depth[np.round(uvd[:, 1]).astype(int), np.round(uvd[:, 0]).astype(int)]
    gap = uvd[:, 2] - surface  # labels are joint centres, the sensor sees the skin in front
    assert (surface > 0).all()
    assert np.median(np.abs(gap)) < 15.0
    assert (gap > -5.0).all() and (gap < 40.0).all()
    # the tips and middle joints of the four fingers and the thumb tip (eval joints 0-8; the thumb
    # base and wrist/palm points sit deeper inside the hand) are within 15 mm of their label
    assert (np.abs(gap[:9]) < 15.0).all()


def real_nyu_frame():
    """The real NYU test frame of the shared data and its 14 published ground-truth joints (u,
    v, d), or skip the test where they are not on this machine."""
    data = shared_data_dir()
    frame = data / "samples/nyu_frame/depth_1_0000001.png" if data else None
    labels = data / "depth_eval/evaluation/groundtruth/nyu/nyu_test_groundtruth_label.txt" if data else None
    if frame is None or not frame.is_file() or not labels.is_file():
        pytest.skip("real NYU frame or public NYU ground truth (shared data) not on this machine")
    return frame, np.loadtxt(labels, max_rows=1).reshape(14, 3)


def test_augmented_depth_crops_keep_labels_and_depths_together():
    """The rotation/scale augmentation on the real NYU frame: the 3D labels turn with the depth
    crop (projected with the item's intrinsics they land on its 2D joints, and the depth map at
    a fingertip still reads that fingertip's depth), and the cube shrinks with the zoom."""
    from handlib.codecs.geometry import project
    from handlib.data.formats.depth import uvd_to_xyz
    from handlib.data.pipeline import PoseDataset

    frame, uvd = real_nyu_frame()
    camera = nyu.CAMERA
    xyz = uvd_to_xyz(uvd, camera.fx, camera.fy, camera.cx, camera.cy)  # y down: fy > 0
    eval_index = [i if i is not None else -1 for i in nyu.CANONICAL_FROM_EVAL]
    labelled = np.array([i >= 0 for i in eval_index])
    kp3d = np.where(labelled[:, None], xyz[eval_index], np.nan).astype(np.float32)
    kp2d = np.where(labelled[:, None], uvd[eval_index, :2], 0.0).astype(np.float32)
    sample = {"depth": nyu.read_depth(frame), "kp2d": kp2d, "kp3d": kp3d, "K": camera.K,
              "labelled": labelled, "visible": labelled, "side": "right"}
    spec = {"source": "synthetic", "modality": "depth", "input_size": 96, "two_hands": False,
            "augment": {"rotation": 180.0, "scale": [0.9, 1.1]}, "mirror_left": False,
            "codec": {"name": "depth_crop", "input_size": 96, "heatmap_size": 24}}
    plain = PoseDataset([sample], {**spec, "augment": None}, "train").item(0)
    augmented = PoseDataset([sample], spec, "train", training=True)
    # the fingertips and middle joints (evaluation joints 0-8, within 15 mm of the surface)
    near_surface = [k for k, i in enumerate(eval_index) if 0 <= i < 9]
    for epoch in range(4):
        augmented.set_epoch(epoch)
        item = augmented.item(0)
        assert np.allclose(project(item["kp3d"][labelled], item["K"]), item["kp2d"][labelled],
                           atol=1e-2)
        depth = item["depth"][0]       # normalised: (z - centre) / (cube_z / (2 s))
        cube_z = 250.0 / item["crop_scale"]
        u, v = np.clip(np.floor(item["kp2d"][near_surface]).astype(int), 0, 95).T
        read = item["centre_mm"][2] + depth[v, u] * cube_z / 2
        assert np.all(np.abs(read - item["kp3d"][near_surface, 2]) < 20.0)
        # the hand keeps its shape (up to the uvd rotation's off-axis shear, a few mm): joints
        # keep their distance from the centre, in the unzoomed cube's units
        spread = np.linalg.norm(item["kp3d_norm"][labelled], axis=1) / item["crop_scale"]
        assert np.allclose(spread, np.linalg.norm(plain["kp3d_norm"][labelled], axis=1),
                           atol=0.05)


# ------------------------------------------------------------------------------ refined centres
def test_refined_centre_file_is_read_line_by_line_with_invalid_frames(tmp_path):
    """Three lines of V2V-PoseNet's format: x y z (mm, its world frame) or 'invalid'. In the
    same camera without a y flip the points come back as written; NYU's file is y up; a file
    whose line count is not the split's, or a bad line, names the file and the line."""
    path = tmp_path / "center_test_refined.txt"
    path.write_text("10.5 -20 500\ninvalid\n-3 4 650.25\n")
    camera = depthlib.Intrinsics(500.0, 500.0, 160.0, 120.0)
    centres = depthlib.read_refined_centres(path, 3, camera, camera, y_up=False)
    np.testing.assert_allclose(centres[[0, 2]], [[10.5, -20.0, 500.0], [-3.0, 4.0, 650.25]],
                               rtol=1e-6)
    assert np.isnan(centres[1]).all()
    flipped = depthlib.read_refined_centres(path, 3, camera, camera, y_up=True)
    np.testing.assert_allclose(flipped[0], [10.5, 20.0, 500.0], rtol=1e-6)
    # another camera: the same pixel and depth (ICVL: V2V-PoseNet's 241.42 px focal length)
    other = depthlib.read_refined_centres(path, 3, icvl.CAMERA, icvl.V2V_CAMERA, y_up=False)
    np.testing.assert_allclose(project(other[:1], icvl.CAMERA.K),
                               project(centres[:1], icvl.V2V_CAMERA.K), atol=1e-4)
    with pytest.raises(CorruptFileError, match=r"center_test_refined\.txt: 3 refined centres "
                                               r"for the split's 4 frames"):
        depthlib.read_refined_centres(path, 4, camera, camera, y_up=False)
    path.write_text("10.5 -20 500\n1 2\n-3 4 650.25\n")
    with pytest.raises(CorruptFileError, match="line 2 is neither"):
        depthlib.read_refined_centres(path, 3, camera, camera, y_up=False)


def test_loaders_attach_the_refined_centres_the_user_supplies(tmp_path):
    """ICVL: the train file has one line per Training/labels.txt line (train_genuine keeps the
    genuine frames'), the test file test_seq_1 then test_seq_2; NYU's is y up as joint_xyz.
    Without the files a sample names the file it looked for and has no centre."""
    write_icvl(tmp_path / "ICVL")
    assert "refined_centre_mm" not in open_dataset("icvl", tmp_path / "ICVL", "test")[0]
    assert open_dataset("icvl", tmp_path / "ICVL", "test")[0]["meta"]["refined_centre_file"] \
        == str(tmp_path / "ICVL" / "center_test_refined.txt")
    (tmp_path / "ICVL" / "center_train_refined.txt").write_text("1 2 300\n5 6 310\n")
    (tmp_path / "ICVL" / "center_test_refined.txt").write_text("invalid\n7 8 320\n")
    v2v, camera = icvl.V2V_CAMERA, icvl.CAMERA

    def in_our_camera(x, y, z):  # V2V-PoseNet's point -> its pixel and depth -> our camera
        u, v = v2v.cx + v2v.fx * x / z, v2v.cy + v2v.fy * y / z
        return depthlib.uvd_to_xyz(np.array([u, v, z]), camera.fx, camera.fy, camera.cx, camera.cy)

    genuine = open_dataset("icvl", tmp_path / "ICVL", "train_genuine")
    np.testing.assert_allclose(genuine[0]["refined_centre_mm"], in_our_camera(1, 2, 300), rtol=1e-5)
    train = open_dataset("icvl", tmp_path / "ICVL", "train")
    np.testing.assert_allclose(train[1]["refined_centre_mm"], in_our_camera(5, 6, 310), rtol=1e-5)
    test = open_dataset("icvl", tmp_path / "ICVL", "test")
    assert np.isnan(test[0]["refined_centre_mm"]).all()
    np.testing.assert_allclose(test[1]["refined_centre_mm"], in_our_camera(7, 8, 320), rtol=1e-5)
    write_nyu(tmp_path / "NYU")
    (tmp_path / "NYU" / "center_test_refined.txt").write_text("-30 40 700\n")
    np.testing.assert_allclose(open_dataset("nyu", tmp_path / "NYU", "test")[0]
                               ["refined_centre_mm"], [-30.0, -40.0, 700.0], rtol=1e-6)
    assert "refined_centre_mm" not in open_dataset("nyu", tmp_path / "NYU", "train")[0]


def test_depth_centre_finds_the_hand_on_the_real_nyu_frame():
    """The depth centre (no label read) on the real NYU frame: within 60 mm of the 14 labelled
    joints' mean, with 13 of them inside its 250 mm cube; the forearm pulls it down the arm, and
    the middle fingertip lies 14 mm beyond the cube's edge (what a refined centre would fix)."""
    from handlib.codecs.depth_crop import depth_centre
    from handlib.data.formats.depth import uvd_to_xyz

    frame, uvd = real_nyu_frame()
    c = nyu.CAMERA
    xyz = uvd_to_xyz(uvd, c.fx, c.fy, c.cx, c.cy)
    centre = depth_centre(nyu.read_depth(frame), c.K, np.full(3, 250.0))
    assert np.linalg.norm(centre - xyz.mean(axis=0)) < 60.0
    reach = np.abs(xyz - centre).max(axis=1)  # mm from the centre along the farthest axis
    assert (reach <= 125.0).sum() == 13 and reach.max() < 150.0
