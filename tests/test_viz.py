"""handlib.viz: figures build, axes carry labels with units, skeleton conventions hold."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from handlib import viz  # noqa: E402
from handlib.depth_eval import BENCHMARKS  # noqa: E402
from handlib.skeleton import BONES, FINGER_COLOURS, NUM_JOINTS  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def hand_2d() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(20, 100, size=(NUM_JOINTS, 2))


def test_pck_curves_labelled_with_auc_in_legend():
    t = np.linspace(0, 50, 51)
    ax = viz.plot_pck_curves(t, {"A": t / 50, "B": np.ones_like(t)},
                             xlabel="threshold (mm)", auc_range=(20, 50))
    assert ax.get_xlabel() == "threshold (mm)" and ax.get_ylabel() == "PCK"
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[0].startswith("A (AUC 20–50: 0.700") and labels[1].endswith("1.000)")


def test_success_frames_as_percentages_with_units():
    t = np.arange(0, 81)
    ax = viz.plot_success_frames(t, {"A": t / 80})
    assert "(mm)" in ax.get_xlabel() and "maximum" in ax.get_xlabel()
    assert "%" in ax.get_ylabel()
    assert ax.get_lines()[0].get_ydata()[-1] == pytest.approx(100.0)


def test_per_joint_error_bars_include_the_mean_group():
    ax = viz.plot_per_joint_errors({"A": [1.0, 3.0], "B": [2.0, 2.0]}, ["wrist", "tip"])
    assert ax.get_ylabel() == "mean joint error (mm)" and ax.get_xlabel() == "joint"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["wrist", "tip", "Mean"]
    heights = sorted(round(p.get_height(), 6) for p in ax.patches if p.get_height() > 0)
    assert heights == [1.0, 2.0, 2.0, 2.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="errors for 2 joints"):
        viz.plot_per_joint_errors({"A": [1.0]}, ["wrist", "tip"])


def test_draw_skeleton_marks_occluded_joints():
    fig, ax = plt.subplots()
    visible = np.ones(NUM_JOINTS, bool)
    visible[4] = False  # thumb tip
    viz.draw_skeleton(ax, hand_2d(), visible)
    lines = ax.get_lines()
    bones, joints = lines[: len(BONES)], lines[len(BONES):]
    assert len(joints) == NUM_JOINTS
    dashed = [b for b, (p, c) in zip(bones, BONES) if b.get_linestyle() == "--"]
    assert len(dashed) == 1  # only the bone ending at the thumb tip
    assert joints[4].get_markerfacecolor() == "none"
    assert joints[0].get_markerfacecolor() != "none"
    assert matplotlib.colors.to_rgb(bones[0].get_color()) == pytest.approx(FINGER_COLOURS["thumb"])


def test_draw_skeleton_other_layout_and_shape_check():
    nyu = BENCHMARKS["nyu"]
    fig, ax = plt.subplots()
    viz.draw_skeleton(ax, np.zeros((14, 2)), bones=nyu.bones, joint_finger=nyu.joint_finger)
    assert len(ax.get_lines()) == len(nyu.bones) + 14
    with pytest.raises(ValueError, match=r"\(21, 2\)"):
        viz.draw_skeleton(ax, np.zeros((14, 2)))


def test_comparison_grid_columns_and_titles():
    images = [np.zeros((120, 120, 3), np.uint8), np.full((120, 120), 500.0)]
    gt = np.stack([hand_2d(), hand_2d()])
    fig = viz.comparison_grid(images, {"A": gt + 1, "B": gt - 1}, ground_truth=gt,
                              visible=np.ones((2, NUM_JOINTS), bool), row_titles=["rgb", "depth"])
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["ground truth", "A", "B"]
    with pytest.raises(ValueError, match="keypoint sets for 2 images"):
        viz.comparison_grid(images, {"A": gt[:1]})


def test_highlighted_method_is_black_and_thicker():
    t = np.arange(0, 81)
    ax = viz.plot_success_frames(t, {"A": t / 80, "B": t / 100}, highlight=["B"])
    a, b = ax.get_lines()
    assert b.get_linewidth() > a.get_linewidth()
    assert matplotlib.colors.to_rgb(b.get_color()) == viz.HIGHLIGHT_COLOUR


def test_method_palette_is_stable():
    two, three = viz.method_palette(["a", "b"]), viz.method_palette(["a", "b", "c"])
    assert two == {k: three[k] for k in two}  # adding a method keeps the others' colours
    many = viz.method_palette([str(i) for i in range(14)])
    assert len(set(many.values())) == 14
