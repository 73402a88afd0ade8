"""`handlib datasets`: list, check and show on tiny native-format copies, and a wrong path."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fake_depth_datasets import write_icvl, write_nyu
from fake_rgb_datasets import write_ganerated, write_rhd, write_stb, write_synthhands
from handlib.cli import main
from handlib.data.formats import DATASET_MODULES, DatasetLayoutError, dataset_info, open_dataset


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDLIB_CACHE", str(tmp_path / "cache"))


def test_list_names_every_registered_dataset_with_its_download_page(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in DATASET_MODULES:
        info = dataset_info(name)
        assert f"{name} — {info.title}" in out and info.url in out and info.licence in out


def test_list_json_is_the_modules_metadata(capsys):
    assert main(["datasets", "list", "--json"]) == 0
    listed = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert list(listed) == list(DATASET_MODULES)
    assert listed["nyu"]["splits"] == {"train": 72757, "test": 8252}
    assert listed["msra"]["modality"] == "depth" and listed["msra"]["num_joints"] == 21


def test_check_counts_the_samples_of_a_tiny_copy(tmp_path, capsys):
    write_nyu(tmp_path, frames={"train": 3, "test": 2})
    assert main(["datasets", "check", "nyu", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "layout ok" in out and "train: 3 samples" in out and "test: 2 samples" in out
    assert main(["datasets", "check", "nyu", "--root", str(tmp_path), "--split", "test"]) == 0
    assert "train:" not in capsys.readouterr().out


def test_check_reports_a_corrupt_file_in_one_line(tmp_path, capsys):
    write_nyu(tmp_path, frames={"train": 2, "test": 1})
    (tmp_path / "test/depth_1_0000001.png").write_bytes(b"\x89PNG not really")
    assert main(["datasets", "check", "nyu", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "depth_1_0000001.png" in err[0]


def test_show_json_prints_the_loader_sample(tmp_path, capsys):
    write_icvl(tmp_path)
    args = ["datasets", "show", "icvl", "--root", str(tmp_path), "--split", "test", "--index", "1"]
    assert main(args + ["--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    sample = open_dataset("icvl", tmp_path, "test")[1]
    assert shown["split"] == "test" and shown["index"] == 1 and shown["side"] == "right"
    assert shown["joint_names"][4] == "thumb_TIP"
    np.testing.assert_allclose(shown["kp2d"][4], sample["kp2d"][4])
    assert shown["kp2d"][0] == [None, None]  # ICVL has no wrist: NaN becomes null
    assert shown["visible"] == sample["visible"].tolist()
    np.testing.assert_allclose(shown["K"], sample["K"])
    np.testing.assert_allclose(shown["kp3d_native"], sample["kp3d_native"], rtol=1e-6)
    assert shown["meta"]["id"] == "Testing/Depth/test_seq_2/image_0000.png"
    assert main(args) == 0 and "kp2d:" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["check", "show"])
def test_wrong_path_prints_the_expected_layout_as_a_layout_with_exit_2(tmp_path, capsys, command):
    args = ["datasets", command, "msra", "--root", str(tmp_path / "no-such-folder")]
    assert main(args + (["--index", "0"] if command == "show" else [])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("handlib datasets: error:") and "no-such-folder" in err[0]
    assert len(err) > 3, "the expected layout is printed on its own lines"
    assert "Expected layout under data_root:" in err
    assert any(dataset_info("msra").url in line for line in err[1:])
    assert not any("; " in line and "Expected layout" in line for line in err)


def test_missing_rhd_root_prints_the_expected_layout_line_by_line(tmp_path, capsys):
    root = tmp_path / "no-such-folder"
    assert main(["datasets", "check", "rhd", "--root", str(root), "--split", "test"]) == 2
    err = capsys.readouterr().err.rstrip().splitlines()
    assert err[0] == f"handlib datasets: error: {dataset_info('rhd').title} at {root}: the folder does not exist"
    layout = dataset_info("rhd").layout.splitlines()
    start = err.index("Expected layout under data_root:")
    assert err[start + 1:start + 1 + len(layout)] == layout  # as laid out, indentation kept
    assert "  training/anno_training.pickle" in err
    assert err[-1].startswith("Download it from " + dataset_info("rhd").url)


def test_a_split_needs_only_its_own_files(tmp_path, capsys):
    """An RHD copy with only evaluation/ opens the test splits, and a training split names the
    training files it lacks."""
    write_rhd(tmp_path, n_train=0, n_eval=2)
    assert len(open_dataset("rhd", tmp_path, "test")) == 2
    assert len(open_dataset("rhd", tmp_path, "rcsf_test")) == 2
    with pytest.raises(DatasetLayoutError, match="training/anno_training.pickle"):
        open_dataset("rhd", tmp_path, "train")
    assert main(["datasets", "check", "rhd", "--root", str(tmp_path), "--split", "rcsf_test"]) == 0
    assert "rcsf_test: 2 samples" in capsys.readouterr().out
    assert main(["datasets", "check", "rhd", "--root", str(tmp_path), "--split", "train"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "training/anno_training.pickle" in err[0] and "(needed by split 'train')" in err[0]
    assert main(["datasets", "check", "rhd", "--root", str(tmp_path)]) == 2  # every split
    assert "training/anno_training.pickle" in capsys.readouterr().err


def test_stb_opens_the_split_whose_sequences_are_there(tmp_path):
    write_stb(tmp_path, frames=1, sequences=("B1Counting", "B1Random"))
    assert len(open_dataset("stb", tmp_path, "rcsf_test")) == 2
    with pytest.raises(DatasetLayoutError, match="B2Counting_SK.mat"):
        open_dataset("stb", tmp_path, "rcsf_val")


def test_a_bad_split_is_a_one_line_error(tmp_path, capsys):
    write_rhd(tmp_path, n_train=0, n_eval=1)
    assert main(["datasets", "check", "rhd", "--root", str(tmp_path), "--split", "validation"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no split 'validation'" in err[0]


def test_unknown_dataset_and_bad_index_exit_2(tmp_path, capsys):
    assert main(["datasets", "check", "no-such-set", "--root", str(tmp_path)]) == 2
    assert "supported datasets" in capsys.readouterr().err
    write_nyu(tmp_path, frames={"train": 1, "test": 1})
    assert main(["datasets", "show", "nyu", "--root", str(tmp_path), "--index", "7"]) == 2
    assert "out of range" in capsys.readouterr().err


def test_list_and_check_show_the_sequence_splits_of_ganerated_and_synthhands(tmp_path, capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "splits: all 330,000, train 264,000, val 33,000, test 33,000" in out
    assert "splits: all 63,530, train 45,378, val 9,076, test 9,076" in out
    folders = ("noObject/0001", "withObject/0003", "withObject/0007")  # train, val, test
    write_ganerated(tmp_path / "gan", folders, frames=2)
    assert main(["datasets", "check", "ganerated", "--root", str(tmp_path / "gan")]) == 0
    out = capsys.readouterr().out
    for split, n in (("all", 6), ("train", 2), ("val", 2), ("test", 2)):
        assert f"  {split}: {n} samples" in out
    write_synthhands(tmp_path / "synth", ("female_object/seq01", "male_noobject/seq02", "male_object/seq03"),
                     cameras=1)
    assert main(["datasets", "check", "synthhands", "--root", str(tmp_path / "synth"), "--split", "val"]) == 0
    assert "  val: 1 samples" in capsys.readouterr().out
    assert main(["datasets", "show", "synthhands", "--root", str(tmp_path / "synth"), "--split", "test",
                 "--index", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["meta"]["id"] == "female_object/seq01/cam01/01/00000000"
