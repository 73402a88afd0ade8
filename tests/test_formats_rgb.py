"""RGB dataset loaders: tiny copies of each native format with known values, checked field by field,
plus the real MMPose-format samples in ../shared/data/samples when present."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from handlib.data.formats import (
    CorruptFileError,
    DatasetLayoutError,
    check_layout,
    dataset_info,
    open_dataset,
)
from handlib.data.formats import common, freihand, ganerated, mmpose_coco, rhd, stb, synthhands
from handlib.paths import shared_data_dir
from handlib.skeleton import finger_joints

from fake_rgb_datasets import (
    GANERATED_FOLDERS,
    SYNTHHANDS_SEQUENCES,
    canonical_hand,
    pattern_image,
    to_native,
    write_png,
    write_rcsf_data_root,
    write_ganerated,
    write_interhand,
    write_rhd,
    write_stb,
    write_synthhands,
)

RGB_DATASETS = ("rhd", "stb", "interhand26m", "freihand", "ganerated", "synthhands", "mmpose_coco")
PAPER_IDS = {"rcsf", "msff", "internet_plus", "resunet", "crossinfonet"}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path / "cache"))


# --------------------------------------------------------------------------- registry and errors
@pytest.mark.parametrize("name", RGB_DATASETS)
def test_dataset_info_is_complete(name):
    info = dataset_info(name)
    assert info.url.startswith("http") and info.layout.strip() and info.licence
    assert info.joint_order_source and info.units and info.split_source
    assert info.splits and all(isinstance(n, int) and n > 0 for n in info.splits.values())
    assert set(info.papers) <= PAPER_IDS
    assert info.modality in ("rgb", "rgb+depth")


@pytest.mark.parametrize("name", RGB_DATASETS)
def test_missing_root_lists_expected_files_and_url(tmp_path, name):
    info = dataset_info(name)
    split = next(iter(info.splits))
    with pytest.raises(DatasetLayoutError) as error:
        open_dataset(name, tmp_path / "nowhere", split)
    message = str(error.value)
    assert info.url in message
    assert info.layout.strip().splitlines()[1].strip() in message  # the expected layout is shown


def test_wrongly_arranged_root_names_the_missing_files(tmp_path):
    (tmp_path / "training" / "color").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="anno_training.pickle"):
        open_dataset("rhd", tmp_path, "train")
    with pytest.raises(DatasetLayoutError, match="B1Counting_SK.mat"):
        open_dataset("stb", tmp_path, "test")


def test_common_geometry():
    K = common.intrinsics(100.0, 200.0, 10.0, 20.0)
    kp = np.array([[1.0, 2.0, 4.0], [-3.0, 0.0, 2.0]])
    np.testing.assert_allclose(common.project(kp, K), [[35.0, 120.0], [-140.0, 20.0]])
    batched = common.project(np.stack([kp, kp * 2]), np.stack([K, K]))
    np.testing.assert_allclose(batched[1], common.project(kp, K))
    np.testing.assert_allclose(common.bbox_from_keypoints(kp[:, :2], [True, True]), [-3, 0, 4, 2])
    assert np.isnan(common.bbox_from_keypoints(kp[:, :2], [False, False])).all()


def test_cached_arrays_parses_once(tmp_path):
    source = tmp_path / "anno.txt"
    source.write_text("1 2 3")
    calls = []

    def build():
        calls.append(1)
        return {"x": np.array([1, 2, 3])}

    first = common.cached_arrays("unit", [source], build)
    second = common.cached_arrays("unit", [source], build)
    common._MEMORY.clear()
    third = common.cached_arrays("unit", [source], build)  # from the .npz on disk
    assert len(calls) == 1
    np.testing.assert_array_equal(third["x"], first["x"])
    assert second is first


# --------------------------------------------------------------------------- RHD
def test_rhd_sample_fields(tmp_path):
    truth = write_rhd(tmp_path)
    ds = open_dataset("rhd", tmp_path, "train")
    assert len(ds) == 2
    s0, s1 = ds[0], ds[1]
    left, right, vis, K = truth["training"][0]
    # sample 0: more left-hand mask pixels (1600 vs 1500) → left; sample 1: right (1600 vs 2500)
    assert s0["side"] == "left" and s1["side"] == "right"
    np.testing.assert_allclose(s0["kp3d"], left, atol=1e-3)
    np.testing.assert_allclose(s0["kp2d"], common.project(left, K), atol=1e-3)
    np.testing.assert_allclose(s1["kp3d"], truth["training"][1][1], atol=1e-3)
    np.testing.assert_allclose(s0["K"], K, atol=1e-4)
    # native 1 = left thumb tip → canonical 4; native 27 = right 6 = index DIP → canonical 7
    assert not s0["visible"][4] and s0["visible"].sum() == 20
    assert not s1["visible"][7] and s1["visible"].sum() == 20
    assert s0["meta"]["occlusion"][4] in ("occluded", "out_of_frame") and s0["meta"]["occlusion"][0] == "none"
    np.testing.assert_array_equal(s0["image"], pattern_image(320, 320, 0))
    assert s0["image"].dtype == np.uint8 and s0["image"].shape == (320, 320, 3)
    kp = s0["kp2d"]
    np.testing.assert_allclose(s0["bbox"], [kp[:, 0].min(), kp[:, 1].min(), np.ptp(kp[:, 0]), np.ptp(kp[:, 1])], atol=1e-3)
    assert s0["meta"]["dataset"] == "rhd" and s0["meta"]["id"] == 0


def test_rhd_both_hands_and_depth(tmp_path):
    truth = write_rhd(tmp_path)
    s = rhd.open_split(tmp_path, "test", hands="both", depth=True)[0]
    left, right, _, _ = truth["evaluation"][0]
    assert tuple(s["side"]) == common.TWO_HAND_ORDER == ("right", "left")
    np.testing.assert_allclose(s["kp3d"][0], right, atol=1e-3)
    np.testing.assert_allclose(s["kp3d"][1], left, atol=1e-3)
    assert s["hand_valid"].tolist() == [True, True] and s["kp2d"].shape == (2, 21, 2)
    # view_samples.py: metres = (R * 256 + G) / 65535 * 5
    np.testing.assert_allclose(s["depth"][0, 0], (12 * 256 + 34) / 65535 * 5.0 * 1000.0, rtol=1e-6)


def test_rhd_rcsf_split_sizes_and_disjointness():
    n = rhd.OFFICIAL_SIZES["train"]
    train, val = rhd._split_rows(n, "rcsf_train"), rhd._split_rows(n, "rcsf_val")
    assert (len(train), len(val)) == (38_530, 2_728)
    assert not np.intersect1d(train, val).size and len(np.union1d(train, val)) == n


def test_rhd_corrupt_files_are_named(tmp_path):
    write_rhd(tmp_path)
    color = tmp_path / "training" / "color" / "00001.png"
    color.write_bytes(color.read_bytes()[:200])  # truncated PNG
    ds = open_dataset("rhd", tmp_path, "train")
    ds[0]
    with pytest.raises(CorruptFileError, match="00001.png"):
        ds[1]
    (tmp_path / "evaluation" / "anno_evaluation.pickle").write_bytes(b"\x80\x02}q\x00(K")
    with pytest.raises(CorruptFileError, match="anno_evaluation.pickle"):
        open_dataset("rhd", tmp_path, "test")


def test_rhd_evaluation_only_copy_opens_the_test_splits(tmp_path):
    write_rhd(tmp_path, n_train=0, n_eval=2)
    assert not (tmp_path / "training").exists()
    check_layout("rhd", tmp_path, "test")
    assert len(open_dataset("rhd", tmp_path, "test")) == 2
    assert len(open_dataset("rhd", tmp_path, "rcsf_test")) == 2
    assert open_dataset("rhd", tmp_path, "rcsf_test")[1]["meta"]["set"] == "evaluation"
    for split in ("train", "rcsf_train", "rcsf_val"):
        with pytest.raises(DatasetLayoutError) as error:
            open_dataset("rhd", tmp_path, split)
        problem = str(error.value).splitlines()[0]
        assert "training/anno_training.pickle" in problem and "training/color" in problem
        assert "evaluation/" not in problem and f"split {split!r}" in problem
    with pytest.raises(DatasetLayoutError, match="training/anno_training.pickle"):
        check_layout("rhd", tmp_path)  # the whole copy
    with pytest.raises(ValueError, match="no split 'validation'"):
        check_layout("rhd", tmp_path, "validation")


def test_rhd_training_only_copy_refuses_the_test_split(tmp_path):
    write_rhd(tmp_path, n_train=2, n_eval=0)
    assert len(open_dataset("rhd", tmp_path, "train")) == 2
    with pytest.raises(DatasetLayoutError, match="missing evaluation/anno_evaluation.pickle"):
        open_dataset("rhd", tmp_path, "rcsf_test")


def test_loaders_are_lazy(tmp_path):
    write_rhd(tmp_path)
    (tmp_path / "training" / "color" / "00000.png").unlink()
    ds = open_dataset("rhd", tmp_path, "train")  # no image is read here
    with pytest.raises(DatasetLayoutError, match="00000.png"):
        ds[0]


# --------------------------------------------------------------------------- STB
def test_stb_sample_fields(tmp_path):
    truth = write_stb(tmp_path, image_sequences=("B1Counting",))
    ds = open_dataset("stb", tmp_path, "test")
    assert len(ds) == 4  # B1Counting + B1Random, 2 frames each
    s = ds[1]
    np.testing.assert_allclose(s["kp3d"], truth["B1Counting"][1], atol=1e-3)
    np.testing.assert_allclose(s["kp2d"], common.project(truth["B1Counting"][1], stb.SK_COLOR_K), atol=1e-3)
    np.testing.assert_allclose(s["K"], stb.SK_COLOR_K, atol=1e-4)
    assert s["side"] == "left" and s["visible"].all() and s["meta"]["root_joint"] == "wrist"
    np.testing.assert_array_equal(s["image"], pattern_image(480, 640, 1))
    bb = stb.open_split(tmp_path, "test", camera="BB_right")[0]
    np.testing.assert_allclose(bb["kp3d"], truth["B1Counting"][0] - [stb.BB_BASELINE_MM, 0, 0], atol=1e-3)
    np.testing.assert_allclose(bb["K"], stb.BB_K, atol=1e-4)
    palm = stb.open_split(tmp_path, "test", palm_to_wrist=False)[0]
    ring = truth["B1Counting"][0][finger_joints("ring")[0]]
    np.testing.assert_allclose(palm["kp3d"][0], (truth["B1Counting"][0][0] + ring) / 2, atol=1e-3)


def test_stb_copy_of_the_b1_sequences_opens_the_test_splits(tmp_path):
    truth = write_stb(tmp_path, frames=1, sequences=("B1Counting", "B1Random"))
    for split in ("test", "rcsf_test"):
        check_layout("stb", tmp_path, split)
        ds = open_dataset("stb", tmp_path, split)
        assert len(ds) == 2 and ds[1]["meta"]["sequence"] == "B1Random"
        np.testing.assert_allclose(ds[1]["kp3d"], truth["B1Random"][0], atol=1e-3)
    for split, first in (("rcsf_val", "B2Counting"), ("rcsf_train", "B3Counting"), ("train", "B2Counting")):
        with pytest.raises(DatasetLayoutError) as error:
            open_dataset("stb", tmp_path, split)
        problem = str(error.value).splitlines()[0]
        assert f"images/{first}" in problem and f"labels/{first}_SK.mat" in problem
        assert "B1" not in problem and f"split {split!r}" in problem


def test_rcsf_data_root_gives_every_rcsf_split_two_samples_inside_the_image(tmp_path):
    root = write_rcsf_data_root(tmp_path / "hands")
    assert root == tmp_path / "hands"
    assert sorted(p.name for p in root.iterdir()) == ["RHD_published_v2", "STB"]
    sizes = {}
    for name, folder in (("stb", "STB"), ("rhd", "RHD_published_v2")):
        for split in ("rcsf_train", "rcsf_val", "rcsf_test"):
            ds = open_dataset(name, root / folder, split)
            sizes[name, split] = len(ds)
            for s in (ds[0], ds[len(ds) - 1]):
                height, width = s["image"].shape[:2]
                assert s["image"].dtype == np.uint8 and s["image"].shape[2] == 3
                assert common.in_frame(s["kp2d"], width, height).all()
                assert s["visible"].sum() >= 20 and (s["kp3d"][:, 2] > 0).all()
                assert s["side"] in ("left", "right") and np.all(s["bbox"][2:] > 0)
    assert sizes == {("stb", "rcsf_train"): 8, ("stb", "rcsf_val"): 2, ("stb", "rcsf_test"): 2,
                     ("rhd", "rcsf_train"): 29, ("rhd", "rcsf_val"): 2, ("rhd", "rcsf_test"): 2}
    train = open_dataset("rhd", root / "RHD_published_v2", "rcsf_train")
    val = open_dataset("rhd", root / "RHD_published_v2", "rcsf_val")
    assert not {s["meta"]["id"] for s in val} & {train[i]["meta"]["id"] for i in range(len(train))}


def test_stb_splits_follow_the_papers():
    assert stb.INFO.splits == {"train": 15_000, "test": 3_000, "rcsf_train": 12_000, "rcsf_val": 3_000, "rcsf_test": 3_000}
    assert not set(stb.SPLIT_SEQUENCES["rcsf_train"]) & set(stb.SPLIT_SEQUENCES["rcsf_val"])
    np.testing.assert_allclose(stb.rodrigues(stb.SK_ROTATION_VECTOR), Rotation.from_rotvec(stb.SK_ROTATION_VECTOR).as_matrix(), atol=1e-12)


# --------------------------------------------------------------------------- InterHand2.6M
@pytest.mark.parametrize("official", [True, False])
def test_interhand_sample_fields(tmp_path, official):
    frames = write_interhand(tmp_path, official=official)["test"]
    right, left, K = frames[0].right, frames[0].left, frames[0].K
    ds = open_dataset("interhand26m", tmp_path, "test")
    assert len(ds) == 2
    s = ds[0]
    np.testing.assert_allclose(s["kp3d"][0], right, atol=1e-3)
    np.testing.assert_allclose(s["kp3d"][1], left, atol=1e-3)
    np.testing.assert_allclose(s["kp2d"][1], common.project(left, K), atol=1e-3)
    np.testing.assert_allclose(s["K"], K, atol=1e-4)
    assert tuple(s["side"]) == ("right", "left") and s["hand_valid"].tolist() == [True, True]
    assert not s["visible"][0, 4] and s["visible"].sum() == 41
    # the unannotated right thumb tip is neither trained on nor scored
    assert not s["labelled"][0, 4] and s["labelled"].sum() == 41
    np.testing.assert_allclose(s["bbox"], frames[0].bbox, atol=1e-4)
    assert s["image"].shape == (512, 334, 3) and s["meta"]["hand_type"] == "interacting"
    single = ds[1]
    assert single["hand_valid"].tolist() == [False, False]  # 'left' frame whose left wrist is invalid
    assert not single["visible"].any()


def test_interhand_split_needs_only_its_annotations_and_images(tmp_path):
    write_interhand(tmp_path, official=True)  # only the test split
    check_layout("interhand26m", tmp_path, "test")
    assert len(open_dataset("interhand26m", tmp_path, "test")) == 2
    with pytest.raises(DatasetLayoutError) as error:
        open_dataset("interhand26m", tmp_path, "train")
    problem = str(error.value).splitlines()[0]
    assert "annotations/train/InterHand2.6M_train_data.json" in problem and "_test_" not in problem
    with pytest.raises(DatasetLayoutError, match="no complete set of train annotations"):
        check_layout("interhand26m", tmp_path)  # the whole copy: train, val and test
    shutil.rmtree(tmp_path / "images" / "test")
    with pytest.raises(DatasetLayoutError, match=r"missing images/test/ \(the test images\)"):
        open_dataset("interhand26m", tmp_path, "test")


def test_interhand_copy_of_every_split_reads_back(tmp_path):
    """The fixture's whole copy (as the MS-FF paper profile reads it): every split complete, each
    frame's hands and annotated box as written, the hand type cycling."""
    written = write_interhand(tmp_path, splits=("train", "val", "test"), frames=4)
    check_layout("interhand26m", tmp_path)
    for split, frames in written.items():
        ds = open_dataset("interhand26m", tmp_path, split)
        assert len(ds) == 4
        for sample, frame in zip(ds, frames):
            np.testing.assert_allclose(sample["kp3d"][0], frame.right, atol=1e-3)
            np.testing.assert_allclose(sample["kp3d"][1], frame.left, atol=1e-3)
            np.testing.assert_allclose(sample["bbox"], frame.bbox, atol=1e-4)
            assert sample["meta"]["hand_type"] == frame.hand_type
    assert [f.hand_type for f in written["val"]] == ["interacting", "left", "right", "interacting"]
    assert not np.allclose(written["train"][0].right, written["test"][0].right)


def test_interhand_corrupt_json_is_named(tmp_path):
    write_interhand(tmp_path, official=False)
    (tmp_path / "test_interhand2.6m_camera.json").write_text('{"1": {"campos"')
    with pytest.raises(CorruptFileError, match="test_interhand2.6m_camera.json"):
        open_dataset("interhand26m", tmp_path, "test")


# --------------------------------------------------------------------------- FreiHAND
def write_freihand(root, n=2):
    xyz = np.stack([canonical_hand(40 + i) for i in range(n)])
    Ks = np.stack([common.intrinsics(500.0 + i, 501.0, 112.0, 110.0) for i in range(n)])
    (root / "training_xyz.json").write_text(json.dumps((xyz / 1000.0).tolist()))
    (root / "training_K.json").write_text(json.dumps(Ks.tolist()))
    for i in range(4 * n):
        path = root / "training" / "rgb" / f"{i:08d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pattern_image(224, 224, i)).save(path, quality=95)
    return xyz, Ks


def test_freihand_sample_fields(tmp_path):
    xyz, Ks = write_freihand(tmp_path)
    ds = open_dataset("freihand", tmp_path, "train")
    assert len(ds) == 8
    s = ds[5]  # image 5 = annotation 5 mod 2 = 1, in the third block of 2 (background "sample")
    assert s["meta"]["annotation"] == 1 and s["meta"]["version"] == "sample"
    np.testing.assert_allclose(s["kp3d"], xyz[1], atol=1e-3)
    np.testing.assert_allclose(s["kp2d"], common.project(xyz[1], Ks[1]), atol=1e-3)
    assert s["side"] == "right" and s["image"].shape == (224, 224, 3)
    check_layout("freihand", tmp_path, "train")
    with pytest.raises(DatasetLayoutError) as error:
        open_dataset("freihand", tmp_path, "evaluation")
    problem = str(error.value).splitlines()[0]
    assert "evaluation_xyz.json" in problem and "evaluation/rgb" in problem and "training" not in problem
    with pytest.raises(DatasetLayoutError, match="evaluation_K.json"):
        check_layout("freihand", tmp_path)  # the whole copy


def test_truncated_jpeg_is_named(tmp_path):
    write_freihand(tmp_path)
    path = tmp_path / "training" / "rgb" / "00000003.jpg"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CorruptFileError, match="00000003.jpg"):
        open_dataset("freihand", tmp_path, "train")[3]


# --------------------------------------------------------------------------- GANerated, SynthHands
def test_ganerated_sample_fields(tmp_path):
    folder = tmp_path / "data" / "withObject" / "0001"
    folder.mkdir(parents=True)
    (tmp_path / "data" / "noObject").mkdir()
    kp3d = canonical_hand(50)
    u, v, scale = 200.0, 100.0, 0.8
    kp2d = scale * (common.project(kp3d, ganerated.FULL_K) - [u, v])
    for name, values in (("joint2D", kp2d), ("joint_pos_global", kp3d), ("crop_params", np.array([u, v, scale])),
                         ("joint_pos", np.zeros((21, 3)))):
        (folder / f"0001_{name}.txt").write_text(", ".join(f"{x:.6f}" for x in np.ravel(values)))
    write_png(folder / "0001_color_composed.png", pattern_image(256, 256, 3))
    ds = open_dataset("ganerated", tmp_path, "all")
    assert len(ds) == 1
    s = ds[0]
    np.testing.assert_allclose(s["kp3d"], kp3d, atol=1e-4)
    np.testing.assert_allclose(s["kp2d"], kp2d, atol=1e-4)
    np.testing.assert_allclose(common.project(s["kp3d"], s["K"]), s["kp2d"], atol=1e-3)
    assert s["meta"]["object"] and s["side"] == "left"


def test_synthhands_sample_fields(tmp_path):
    for top in synthhands.TOP_FOLDERS:
        (tmp_path / top).mkdir()
    leaf = tmp_path / "male_object" / "seq01" / "cam02" / "01"
    leaf.mkdir(parents=True)
    kp3d = canonical_hand(60)
    (leaf / "00000007_joint_pos.txt").write_text(",".join(f"{x:.6f}" for x in kp3d.ravel()))
    write_png(leaf / "00000007_color.png", pattern_image(480, 640, 1))
    write_png(leaf / "00000007_color_on_depth.png", pattern_image(480, 640, 2))
    depth = np.full((480, 640), 450, np.uint16)
    depth[0, 0] = 32001
    Image.fromarray(depth).save(leaf / "00000007_depth.png")
    s = open_dataset("synthhands", tmp_path, "all")[0]
    np.testing.assert_allclose(s["kp3d"], kp3d + synthhands.DEPTH_TO_COLOR_MM, atol=1e-4)
    np.testing.assert_allclose(s["kp2d"], common.project(kp3d + synthhands.DEPTH_TO_COLOR_MM, synthhands.COLOR_K), atol=1e-3)
    np.testing.assert_array_equal(s["image"], pattern_image(480, 640, 1))
    d = synthhands.open_split(tmp_path, "all", image="color_on_depth", depth=True)[0]
    np.testing.assert_allclose(d["kp3d"], kp3d, atol=1e-4)
    np.testing.assert_allclose(d["K"], synthhands.DEPTH_K, atol=1e-4)
    assert d["depth"][0, 0] == 0 and d["depth"][1, 1] == 450 and d["meta"]["object"]


SEQUENCE_SPLITS = ("train", "val", "test")


def ganerated_folder(stem):
    return stem.rsplit("/", 1)[0]  # <kind>/<NNNN>/<FFFF> -> <kind>/<NNNN>


def synthhands_sequence(stem):
    return "/".join(stem.split("/")[:2])  # <top>/<seq>/<cam>/<part>/<frame> -> <top>/<seq>


SEQUENCE_DATASETS = {
    # name: (writer of a copy with the given sequences, the fake's 20 sequences, stem -> sequence)
    "ganerated": (lambda root, seqs: write_ganerated(root, seqs, frames=2), GANERATED_FOLDERS, ganerated_folder),
    "synthhands": (lambda root, seqs: write_synthhands(root, seqs, cameras=2, images=False),
                   SYNTHHANDS_SEQUENCES, synthhands_sequence),
}


def split_ids(name, root):
    return {split: open_dataset(name, root, split).stems.tolist() for split in ("all", *SEQUENCE_SPLITS)}


@pytest.mark.parametrize("name", SEQUENCE_DATASETS)
def test_sequence_splits_partition_all_and_keep_sequences_apart(tmp_path, name):
    write, sequences, sequence_of = SEQUENCE_DATASETS[name]
    assert len(sequences) == 20
    write(tmp_path, sequences)
    ids = split_ids(name, tmp_path)
    assert set(dataset_info(name).splits) == {"all", *SEQUENCE_SPLITS}
    for split in SEQUENCE_SPLITS:
        assert ids[split], f"{split} is empty on a 20-sequence copy"
        assert len(set(ids[split])) == len(ids[split])
    for a, b in [("train", "val"), ("train", "test"), ("val", "test")]:
        assert not set(ids[a]) & set(ids[b])
        assert not {sequence_of(s) for s in ids[a]} & {sequence_of(s) for s in ids[b]}, (a, b)
    assert sorted(ids["train"] + ids["val"] + ids["test"]) == sorted(ids["all"])
    assert {sequence_of(s) for s in ids["all"]} == set(sequences)
    assert split_ids(name, tmp_path) == ids  # the same on a second call


@pytest.mark.parametrize("name", SEQUENCE_DATASETS)
def test_a_sequence_split_does_not_depend_on_the_other_sequences(tmp_path, name):
    write, sequences, sequence_of = SEQUENCE_DATASETS[name]
    write(tmp_path / "full", sequences)
    # a copy with every third sequence plus two the full copy lacks
    extra = ("noObject/0042", "withObject/0777") if name == "ganerated" else ("male_object/seq07", "female_noobject/seq11")
    write(tmp_path / "part", sequences[::3] + extra)

    def split_of(root):
        return {sequence_of(s): split for split, stems in split_ids(name, root).items() if split != "all" for s in stems}

    full, part = split_of(tmp_path / "full"), split_of(tmp_path / "part")
    shared = set(full) & set(part)
    assert shared == set(sequences[::3])
    assert {seq: full[seq] for seq in shared} == {seq: part[seq] for seq in shared}


def test_ganerated_split_rule_is_the_documented_hash():
    """The published assignment: SHA-256 of the folder name (relative to data/) → [0, 1):
    < 0.8 train, < 0.9 val, else test. Pinned, so a change of the rule is noticed."""
    import hashlib

    for folder in GANERATED_FOLDERS:
        u = int(hashlib.sha256(folder.encode()).hexdigest()[:16], 16) / 2**64
        assert ganerated.folder_split(folder) == ("train" if u < 0.8 else "val" if u < 0.9 else "test")
    assert [f for f in GANERATED_FOLDERS if ganerated.folder_split(f) != "train"] == [
        "withObject/0003", "withObject/0007", "withObject/0008", "withObject/0009"]
    assert ganerated.folder_split("withObject/0007") == "test" and ganerated.folder_split("withObject/0003") == "val"


def test_synthhands_split_rule_holds_out_seq01_and_seq02_of_every_folder():
    for top in synthhands.TOP_FOLDERS:
        assert synthhands.sequence_split(f"{top}/seq01") == "test"
        assert synthhands.sequence_split(f"{top}/seq02") == "val"
        assert {synthhands.sequence_split(f"{top}/seq{i:02d}") for i in range(3, 8)} == {"train"}
        assert synthhands.sequence_split(f"{top}/seq11") == "test" and synthhands.sequence_split(f"{top}/seq12") == "val"
    # a folder not named seq<digits> falls back to the hash rule, stably
    assert synthhands.sequence_split("male_object/extra") == synthhands.sequence_split("male_object/extra")
    assert synthhands.sequence_split("male_object/extra") in SEQUENCE_SPLITS


@pytest.mark.parametrize("name, title", [("ganerated", "GANerated Hands"), ("synthhands", "SynthHands")])
def test_unknown_sequence_split_names_the_splits(tmp_path, name, title):
    write, sequences, _ = SEQUENCE_DATASETS[name]
    write(tmp_path, sequences[:1])
    module = ganerated if name == "ganerated" else synthhands
    with pytest.raises(ValueError, match=f"{title} has no split 'x'; its splits are all, train, val, test"):
        module.open_split(tmp_path, "x")
    with pytest.raises(ValueError, match="no split 'x'"):
        open_dataset(name, tmp_path, "x")


@pytest.mark.parametrize("name", SEQUENCE_DATASETS)
def test_sequence_split_counts_add_up_to_all(name):
    splits = dataset_info(name).splits
    assert splits["train"] + splits["val"] + splits["test"] == splits["all"]
    assert splits["train"] > splits["val"] > 0 and splits["test"] > 0
    assert "our decision" in dataset_info(name).split_source


def test_ganerated_split_samples_decode(tmp_path):
    truth = write_ganerated(tmp_path, ("withObject/0007", "noObject/0001"), frames=1)
    test = open_dataset("ganerated", tmp_path, "test")
    assert len(test) == 1 and test[0]["meta"]["id"] == "withObject/0007/0001" and test[0]["meta"]["object"]
    np.testing.assert_allclose(test[0]["kp3d"], truth["withObject/0007/0001"], atol=1e-4)
    assert [s["meta"]["id"] for s in open_dataset("ganerated", tmp_path, "train")] == ["noObject/0001/0001"]
    assert len(open_dataset("ganerated", tmp_path, "val")) == 0  # a copy without val folders


# --------------------------------------------------------------------------- MMPose COCO-style
def test_mmpose_coco_reorders_rhd_and_freihand(tmp_path):
    hand, K = canonical_hand(70), common.intrinsics(300.0, 300.0, 160.0, 160.0)
    for dataset, table, extra_image, extra_ann, nested in (
        ("rhd", rhd.RHD_TO_CANONICAL, {"cam_param": {"focal": [300.0, 300.0], "princpt": [160.0, 160.0]}},
         {"joint_cam": to_native(hand, rhd.RHD_TO_CANONICAL).tolist(), "hand_type": "left"}, True),
        ("freihand", freihand.FREIHAND_TO_CANONICAL, {}, {}, False),
    ):
        native_uv = to_native(common.project(hand, K), table)
        keypoints = np.c_[native_uv, np.ones(21)]
        keypoints[table[8], 2] = 0  # canonical index TIP not visible
        folder = tmp_path / dataset
        folder.mkdir()
        data = {"images": [{"id": 3, "file_name": "a.png", "width": 320, "height": 320, **extra_image}],
                "annotations": [{"id": 3, "image_id": 3, "bbox": [1, 2, 3, 4],
                                 "keypoints": keypoints.tolist() if nested else keypoints.ravel().tolist(), **extra_ann}],
                "categories": []}
        (folder / f"test_{dataset}.json").write_text(json.dumps(data))
        write_png(folder / "a.png", pattern_image(320, 320, 9))
        s = open_dataset("mmpose_coco", tmp_path, f"{dataset}_test")[0]
        np.testing.assert_allclose(s["kp2d"], common.project(hand, K), atol=1e-4)
        assert s["visible"].tolist() == [i != 8 for i in range(21)]
        if dataset == "rhd":
            np.testing.assert_allclose(s["kp3d"], hand, atol=1e-4)
            assert s["side"] == "left"
        else:
            assert np.isnan(s["kp3d"]).all() and np.isnan(s["K"]).all() and s["side"] == "right"


# --------------------------------------------------------------------------- real samples
def real_samples():
    root = shared_data_dir()
    path = None if root is None else root / "samples" / "mmpose_format"
    if path is None or not path.is_dir():
        pytest.skip("real MMPose-format samples not present (../shared/data/samples/mmpose_format)")
    return path


def test_real_rhd_joints_project_onto_keypoints_and_tip_first_order_is_converted():
    ds = open_dataset("mmpose_coco", real_samples(), "rhd_test")
    assert len(ds) == 3
    for s in ds:
        assert np.abs(common.project(s["kp3d"], s["K"]) - s["kp2d"]).max() < 0.5
        # phalanx lengths do not depend on the pose: in base→tip order the first bone of each
        # finger (MCP→PIP) is longer than the last (DIP→TIP); a tip-first order would swap them
        for finger in ("thumb", "index", "middle", "ring", "little"):
            mcp, pip, dip, tip = (s["kp3d"][j] for j in finger_joints(finger))
            assert np.linalg.norm(pip - mcp) > np.linalg.norm(tip - dip), finger


def test_real_freihand_has_no_3d_and_canonical_order():
    ds = open_dataset("mmpose_coco", real_samples(), "freihand_test")
    assert len(ds) == 8
    for s in ds:
        assert np.isnan(s["kp3d"]).all()  # MMPose's FreiHAND conversion carries no 3D or K
        wrist = s["kp2d"][0]
        mcp_dist = [np.linalg.norm(s["kp2d"][finger_joints(f)[0]] - wrist) for f in ("index", "middle", "ring")]
        tip_dist = [np.linalg.norm(s["kp2d"][finger_joints(f)[3]] - wrist) for f in ("index", "middle", "ring")]
        assert np.mean(mcp_dist) < np.mean(tip_dist)


def test_real_interhand_projection_reproduces_annotated_boxes():
    """The annotated box is the tight box of the projected valid joints enlarged 1.2x about its
    centre, so projecting world → camera → pixels must land on it."""
    ds = open_dataset("interhand26m", real_samples() / "interhand2.6m", "test")
    assert len(ds) == 4
    for s in ds:
        box = common.bbox_from_keypoints(s["kp2d"], s["visible"])
        centre = box[:2] + box[2:] / 2
        expected = np.r_[centre - 0.6 * box[2:], 1.2 * box[2:]]
        assert np.abs(expected - s["bbox"]).max() < 0.5
        assert s["hand_valid"].any()
        if s["meta"]["hand_type"] == "interacting":
            assert s["hand_valid"].all()
