"""handlib.depth_eval: hand-made evaluation folders, then CrossInfoNet Table 2 from real files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from handlib import cli, depth_eval, metrics, papers
from handlib.data.formats import icvl, msra, nyu
from handlib.paths import shared_data_dir

ICVL = depth_eval.BENCHMARKS["icvl"]
FX, FY, CX, CY = ICVL.intrinsics


def write_rows(path: Path, rows: np.ndarray, names: list[str] | None = None,
               line_end: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [" ".join(f"{v:.3f}" for v in row.ravel()) for row in rows]
    if names is not None:
        lines = [f"{n} {line}" for n, line in zip(names, lines)]
    path.write_bytes("".join(line + line_end for line in lines).encode())
    return path


@pytest.fixture
def eval_root(tmp_path: Path) -> Path:
    """ICVL-like folder: 4 frames, every joint at the principal point (x = y = 0, z = d).

    Subset ``seq_a`` holds frames 0-1 (stored with the "\\r\\r\\n" line ends of the real files).
    """
    gt = np.zeros((4, 16, 3))
    gt[..., 0], gt[..., 1] = CX, CY
    gt[..., 2] = 300.0 + 10.0 * np.arange(4)[:, None]
    folder = tmp_path / "evaluation" / "groundtruth" / "icvl"
    write_rows(folder / "icvl_test_groundtruth_label.txt", gt)
    names = [f"seq_a/image_{i}.png" for i in range(2)] + [f"seq_b/image_{i}.png" for i in range(2)]
    (folder / "icvl_test_list.txt").write_text("\n".join(names) + "\n")
    write_rows(folder / "seq_a.txt", gt[:2], names=names[:2], line_end="\r\r\n")
    return tmp_path / "evaluation"


def ground_truth(root: Path) -> np.ndarray:
    return np.loadtxt(root / "groundtruth/icvl/icvl_test_groundtruth_label.txt").reshape(-1, 16, 3)


def test_uvd_to_xyz_uses_the_evaluation_code_formula():
    uvd = np.array([[CX, CY, 500.0], [CX + FX, CY - FY, 1000.0]])
    np.testing.assert_allclose(depth_eval.uvd_to_xyz(uvd, *ICVL.intrinsics),
                               [[0, 0, 500], [1000, -1000, 1000]])


def test_benchmark_cameras_match_the_dataset_loaders():
    assert depth_eval.BENCHMARKS["nyu"].intrinsics == nyu.EVAL_INTRINSICS
    for module, name in ((icvl, "icvl"), (msra, "msra")):
        camera = module.CAMERA
        expected = (camera.fx, camera.fy, camera.cx, camera.cy)
        assert depth_eval.BENCHMARKS[name].intrinsics == expected


def test_layouts_are_consistent():
    for spec in depth_eval.BENCHMARKS.values():
        assert len(spec.joint_finger) == spec.num_joints
        assert sorted(spec.display_order) == list(range(spec.num_joints))
        children = [c for _, c in spec.bones]
        assert len(spec.bones) == spec.num_joints - 1 and len(set(children)) == len(children)


def test_known_errors_on_a_hand_made_folder(eval_root: Path):
    pred = ground_truth(eval_root)
    pred[..., 2] += 3.0  # every joint 3 mm deeper: at the principal point only z changes
    pred[3, 0, 2] += 50.0  # frame 3: one joint 53 mm off
    path = write_rows(eval_root / "results/icvl/method.txt", pred)
    result = depth_eval.evaluate_predictions(eval_root, "icvl", path)
    assert result.subset is None and result.frames == 4
    np.testing.assert_allclose(result.errors[:3], 3.0, atol=1e-9)
    assert result.mean_error == pytest.approx(3.0 + 50.0 / 64)
    np.testing.assert_allclose(result.success_frames([2, 3, 53]), [0, 0.75, 1.0])
    assert result.per_joint()["Palm"] == pytest.approx(3.0 + 50.0 / 4)
    assert result.exact_fraction() == {name: 0.0 for name in ICVL.joint_names}
    copied = pred.copy()
    copied[:, 4] = ground_truth(eval_root)[:, 4]  # Index.R taken from the labels
    path = write_rows(eval_root / "results/icvl/copied.txt", copied)
    exact = depth_eval.evaluate_predictions(eval_root, "icvl", path).exact_fraction()
    assert exact["Index.R"] == 1.0 and exact["Palm"] == 0.0


def test_a_file_covering_a_known_subset_is_evaluated_on_it(eval_root: Path):
    pred = ground_truth(eval_root)[:2]
    pred[1, :, 2] += 4.0
    path = write_rows(eval_root / "results/icvl/part.txt", pred)
    result = depth_eval.evaluate_predictions(eval_root, "icvl", path)
    assert result.subset == "seq_a" and result.frames == 2 and result.ground_truth_frames == 4
    assert result.mean_error == pytest.approx(2.0)
    assert "seq_a" in result.coverage() and "only" in result.coverage()


def test_bad_files_name_the_file_and_line(eval_root: Path):
    gt = ground_truth(eval_root)
    wrong_count = write_rows(eval_root / "results/icvl/three.txt", gt[:3])
    with pytest.raises(ValueError, match=r"three\.txt: 3 frames.*has 4.*seq_a: 2"):
        depth_eval.evaluate_predictions(eval_root, "icvl", wrong_count)
    short = eval_root / "results/icvl/short.txt"
    lines = [" ".join(f"{v:.3f}" for v in row.ravel()) for row in gt]
    lines[2] = lines[2].rsplit(" ", 1)[0]
    short.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"short\.txt, line 3: expected 48 numbers.*found 47"):
        depth_eval.evaluate_predictions(eval_root, "icvl", short)
    nan = eval_root / "results/icvl/nan.txt"
    lines = [" ".join(f"{v:.3f}" for v in row.ravel()) for row in gt]
    lines[1] = lines[1].replace("120.000", "nan", 1)
    nan.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"nan\.txt, line 2: holds NaN"):
        depth_eval.evaluate_predictions(eval_root, "icvl", nan)
    text = eval_root / "results/icvl/text.txt"
    lines = [" ".join(f"{v:.3f}" for v in row.ravel()) for row in gt]
    lines[3] = lines[3].replace("160.000", "x", 1)
    text.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"text\.txt, line 4: not a number"):
        depth_eval.evaluate_predictions(eval_root, "icvl", text)


def test_missing_ground_truth_says_what_is_expected(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="msra_test_groundtruth_label.txt.*awesome"):
        depth_eval.load_ground_truth(tmp_path, "msra")
    with pytest.raises(ValueError, match="unknown depth benchmark"):
        depth_eval.load_ground_truth(tmp_path, "stb")


def test_cli_text_and_json(eval_root: Path, capsys):
    pred = ground_truth(eval_root)[:2]
    path = write_rows(eval_root / "results/icvl/part.txt", pred)
    argv = ["eval-depth", "--dataset", "icvl", "--eval-root", str(eval_root), "--pred", str(path)]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "2 of 4 frames" in text and "seq_a" in text and "mean 3D error: 0.000 mm" in text
    assert cli.main(argv + ["--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["subset"] == "seq_a" and payload["mean_error_mm"] == 0.0
    assert list(payload["success_frames_pct"]) == ["10", "20", "30", "40", "50", "80"]
    assert payload["success_frames_pct"]["10"] == 100.0
    assert list(payload["per_joint_error_mm"]) == list(ICVL.joint_names)
    assert cli.main(["eval-depth", "--dataset", "nyu", "--eval-root", str(eval_root),
                     "--pred", str(path)]) == 2
    assert "nyu_test_groundtruth_label.txt" in capsys.readouterr().err


def test_agreement_categories():
    assert depth_eval.printed_decimals(10.4) == 1 and depth_eval.printed_decimals(6.94) == 2
    assert depth_eval.agreement(6.9349, 6.94) == "within"
    assert depth_eval.agreement(6.9351, 6.94) == "rounds"
    assert depth_eval.agreement(7.2389, 7.3) == "within"
    assert depth_eval.agreement(7.25, 7.3) == "rounds"
    assert depth_eval.agreement(7.19, 7.3) == "differs"
    assert depth_eval.agreement(6.951, 6.94) == "differs"


def test_mapping_points_at_real_cells_of_table_2():
    table = papers.table("crossinfonet", "2")
    entries = depth_eval.published_predictions()
    cells = [(e["row"], e["column"]) for e in entries if e["row"] is not None]
    assert len(cells) == len(set(cells)), "two files mapped to one cell"
    for entry in entries:
        assert entry["dataset"] in depth_eval.BENCHMARKS
        if entry["row"] is None:
            assert entry["agreement"] is None and entry.get("note")
            continue
        assert not np.isnan(table.loc[entry["row"], entry["column"]]), entry
        if entry["agreement"] != "rounds" or entry["column"] != entry["dataset"].upper():
            assert entry.get("note"), f"{entry['file']} needs a note explaining it"


# ----------------------------------------------------------------------------- real published files


def real_eval_root() -> Path:
    shared = shared_data_dir()
    root = None if shared is None else shared / "depth_eval" / "evaluation"
    if root is None or not root.is_dir():
        pytest.skip("published predictions absent: expected ../shared/data/depth_eval/evaluation "
                    "(the awesome-hand-pose-estimation evaluation/ folder)")
    return root


def test_every_published_file_is_mapped_and_evaluates():
    root = real_eval_root()
    mapped = {(e["dataset"], e["file"]) for e in depth_eval.published_predictions()}
    for dataset in ("icvl", "nyu"):
        for path in depth_eval.prediction_files(root, dataset):
            assert (dataset, path.name) in mapped, f"{path} is not in metrics.yaml's mapping"
    assert all((root / "results" / d / f).is_file() for d, f in mapped)


def test_crossinfonet_table_2_recomputed_from_published_predictions():
    """Each mapped cell agrees with the paper as recorded; never a silently loosened tolerance."""
    comparison = depth_eval.table2_comparison(real_eval_root())
    in_table = comparison[comparison["paper row"].notna()]
    assert len(in_table) == 27
    for _, row in in_table.iterrows():
        tolerance = 10.0 ** -depth_eval.printed_decimals(row["paper (mm)"])
        assert abs(row["difference (mm)"]) <= tolerance + 1e-9, row.to_dict()
        assert row["agreement"] == row["expected"], row.to_dict()
    deep_prior = in_table[(in_table["paper row"] == "DeepPrior") & (in_table["dataset"] == "ICVL")]
    assert deep_prior["subset"].tolist() == ["test_seq_1"]
    assert deep_prior["frames"].tolist() == [702]


def test_fig7_series_orders_joints_for_display_and_labels_subset_files():
    from types import SimpleNamespace

    errors = np.arange(14, dtype=float)[None].repeat(3, axis=0)  # joint j: j mm in every frame
    full = SimpleNamespace(errors=errors, subset=None,
                           success_frames=lambda t: metrics.success_frames(errors, t))
    part = SimpleNamespace(errors=errors + 1.0, subset="test_seq_1",
                           success_frames=lambda t: metrics.success_frames(errors + 1.0, t))
    evaluations = [({"dataset": "nyu", "row": "V2V"}, full),
                   ({"dataset": "nyu", "row": "DeepPrior"}, part),
                   ({"dataset": "nyu", "row": None}, full),      # no cell: left out
                   ({"dataset": "icvl", "row": "V2V"}, full)]    # another benchmark
    curves, per_joint, names = depth_eval.fig7_series(evaluations, "nyu", [12.5, 13.0])
    assert list(curves) == ["V2V", "DeepPrior (test_seq_1 only)"]
    np.testing.assert_array_equal(curves["V2V"], [0.0, 1.0])  # every frame's worst joint: 13 mm
    order = list(depth_eval.BENCHMARKS["nyu"].display_order)
    np.testing.assert_array_equal(per_joint["V2V"], np.asarray(order, float))
    assert names == [depth_eval.BENCHMARKS["nyu"].joint_names[j] for j in order]
