"""Figures for the book: metric curves, per-joint errors, skeleton overlays, comparison grids.

One look everywhere: :func:`set_style` applies the seaborn theme the notebooks use, every method
keeps one colour across a chapter's figures (:func:`method_palette`, in the order the methods are
given), every axis is labelled with its quantity and unit, and skeletons use the per-finger
colours of ``handlib.skeleton``.

Skeleton drawing convention: a visible joint is a filled dot; an occluded joint (``visible`` is
False) is a hollow ring, and a bone touching an occluded joint is dashed, so a figure shows at a
glance which joints the ground truth marks as hidden. The canonical 21-joint layout is the
default; depth benchmarks with their own layouts (ICVL 16, NYU 14 joints) pass ``bones`` and
``joint_finger`` (see ``handlib.depth_eval.BENCHMARKS``).

All plotting functions take an optional ``ax`` and return the axes (or a new figure), so a
notebook composes them; nothing is saved to disk here.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from handlib import metrics
from handlib.skeleton import BONES, FINGER_COLOURS, JOINT_FINGER

Colour = tuple[float, float, float]


def set_style(context: str = "notebook") -> None:
    """The book's figure style: seaborn ``whitegrid`` theme, colour-blind-safe palette."""
    sns.set_theme(context=context, style="whitegrid", palette="colorblind")


HIGHLIGHT_COLOUR: Colour = (0.0, 0.0, 0.0)


def method_palette(methods: Sequence[str], highlight: Sequence[str] = ()) -> dict[str, Colour]:
    """A fixed colour per method, in the given order (the same list gives the same colours).

    Methods in ``highlight`` (e.g. the chapter's own method) are black in every figure.
    """
    name = "colorblind" if len(methods) <= 10 else "tab20"
    colours = sns.color_palette(name, n_colors=max(len(methods), 1))
    return {method: HIGHLIGHT_COLOUR if method in highlight else tuple(colours[i])
            for i, method in enumerate(methods)}


def _axes(ax: Axes | None, figsize: tuple[float, float] = (6.0, 4.0)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


# ----------------------------------------------------------------------------- curves and bars


def _line_style(method: str, highlight: Sequence[str]) -> dict:
    return {"linewidth": 3.2, "zorder": 3} if method in highlight else {"linewidth": 1.6}


def plot_pck_curves(
    thresholds: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    ax: Axes | None = None,
    *,
    xlabel: str = "threshold (fraction of the hand's bounding-box size)",
    ylabel: str = "PCK",
    auc_range: tuple[float, float] | None = None,
    title: str | None = None,
    highlight: Sequence[str] = (),
) -> Axes:
    """PCK curves of several methods on one axis; with ``auc_range`` the legend shows each AUC.

    ``curves`` maps a method name to its PCK values at ``thresholds`` (from
    :func:`handlib.metrics.pck_curve`). ``xlabel`` must carry the unit (e.g. "threshold (mm)").
    Methods in ``highlight`` are drawn thicker, on top.
    """
    ax = _axes(ax)
    t = np.asarray(thresholds, dtype=float)
    colours = method_palette(list(curves), highlight)
    for method, values in curves.items():
        values = np.asarray(values, dtype=float)
        label = method
        if auc_range is not None:
            inside = (t >= auc_range[0]) & (t <= auc_range[1])
            label = (f"{method} (AUC {auc_range[0]:g}–{auc_range[1]:g}: "
                     f"{metrics.auc(t[inside], values[inside]):.3f})")
        ax.plot(t, values, label=label, color=colours[method], **_line_style(method, highlight))
    ax.set(xlabel=xlabel, ylabel=ylabel, ylim=(0.0, 1.01), xlim=(t[0], t[-1]))
    if title:
        ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    return ax


def plot_success_frames(
    thresholds: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    ax: Axes | None = None,
    *,
    mode: str = "max",
    unit: str = "mm",
    title: str | None = None,
    legend: bool = True,
    highlight: Sequence[str] = (),
) -> Axes:
    """Success-frame curves (percentage of frames within a threshold) of several methods.

    ``curves`` maps a method to fractions in [0, 1] from :func:`handlib.metrics.success_frames`
    with the same ``mode``; they are drawn as percentages, as in CrossInfoNet Fig. 7 (top row).
    Methods in ``highlight`` are drawn thicker, on top.
    """
    if mode not in metrics.FRAME_MODES:
        raise ValueError(f"mode must be one of {metrics.FRAME_MODES}, got {mode!r}")
    ax = _axes(ax)
    t = np.asarray(thresholds, dtype=float)
    colours = method_palette(list(curves), highlight)
    for method, values in curves.items():
        ax.plot(t, 100.0 * np.asarray(values, dtype=float), label=method, color=colours[method],
                **_line_style(method, highlight))
    what = "maximum" if mode == "max" else "mean"
    ax.set(xlabel=f"{what} allowed joint error per frame ({unit})",
           ylabel="frames within threshold (%)", ylim=(0.0, 100.5), xlim=(t[0], t[-1]))
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(loc="lower right", fontsize="x-small", ncol=2)
    return ax


def plot_per_joint_errors(
    errors: Mapping[str, Sequence[float]],
    joint_names: Sequence[str],
    ax: Axes | None = None,
    *,
    unit: str = "mm",
    include_mean: bool = True,
    title: str | None = None,
    legend: bool = True,
    highlight: Sequence[str] = (),
) -> Axes:
    """Grouped bars: each joint's mean error for several methods (CrossInfoNet Fig. 7, bottom).

    ``errors`` maps a method to its per-joint mean errors, in the order of ``joint_names``. With
    ``include_mean`` a last group "Mean" shows the mean over joints. ``highlight`` as in
    :func:`method_palette`.
    """
    ax = _axes(ax, figsize=(10.0, 4.0))
    names = list(joint_names) + (["Mean"] if include_mean else [])
    rows = []
    for method, values in errors.items():
        values = np.asarray(values, dtype=float)
        if values.shape != (len(joint_names),):
            raise ValueError(f"{method}: {values.shape[0]} errors for {len(joint_names)} joints")
        if include_mean:
            values = np.append(values, values.mean())
        rows += [{"joint": j, "method": method, "error": e} for j, e in zip(names, values)]
    frame = pd.DataFrame(rows)
    sns.barplot(data=frame, x="joint", y="error", hue="method", order=names,
                palette=method_palette(list(errors), highlight), errorbar=None, ax=ax,
                legend=legend)
    ax.set(xlabel="joint", ylabel=f"mean joint error ({unit})")
    ax.tick_params(axis="x", labelrotation=90)
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(fontsize="x-small", ncol=2)
    return ax


# ----------------------------------------------------------------------------- images and skeletons


def show_image(ax: Axes, image: np.ndarray, depth_window_mm: float = 150.0) -> Axes:
    """An RGB image (H, W, 3) as is, or a depth map (H, W, mm) in grey, "no reading" (0) blank.

    Depth is shown over ``depth_window_mm`` from the nearest surface (its 0.5th percentile), near
    bright and far dark, so a hand in front of the background keeps its relief.
    """
    image = np.asarray(image)
    if image.ndim == 3:
        ax.imshow(image)
    elif image.ndim == 2:
        depth = np.ma.masked_less_equal(image.astype(float), 0.0)
        near = np.percentile(depth.compressed(), 0.5) if depth.count() else 0.0
        ax.imshow(depth, cmap="gray_r", vmin=near, vmax=near + depth_window_mm)
    else:
        raise ValueError(f"expected an (H, W, 3) image or an (H, W) depth map, got {image.shape}")
    ax.set_axis_off()
    return ax


def zoom_to(ax: Axes, kp2d: np.ndarray, margin: float = 0.3) -> Axes:
    """Limit ``ax`` to a square around the keypoints, ``margin`` × their extent on each side."""
    kp = np.asarray(kp2d, dtype=float).reshape(-1, 2)
    kp = kp[np.isfinite(kp).all(axis=1)]
    centre = (kp.min(axis=0) + kp.max(axis=0)) / 2.0
    half = (kp.max(axis=0) - kp.min(axis=0)).max() * (0.5 + margin) + 1.0
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] + half, centre[1] - half)  # image rows grow downwards
    return ax


def draw_skeleton(
    ax: Axes,
    kp2d: np.ndarray,
    visible: np.ndarray | None = None,
    *,
    bones: Sequence[tuple[int, int]] = BONES,
    joint_finger: Sequence[str] = JOINT_FINGER,
    colour: Colour | str | None = None,
    linewidth: float = 2.0,
    markersize: float = 5.0,
    label: str | None = None,
) -> Axes:
    """Draw one hand's skeleton in image coordinates (pixels, x right, y down).

    ``kp2d`` is ``(J, 2)``; ``visible`` ``(J,)`` bool (None: all visible). Bones and joints take
    their finger's colour from ``handlib.skeleton.FINGER_COLOURS`` unless ``colour`` is given (one
    colour per method, as in CrossInfoNet Fig. 8). Occluded joints are hollow, their bones dashed.
    ``label`` names the drawing in a legend.
    """
    kp = np.asarray(kp2d, dtype=float)
    if kp.ndim != 2 or kp.shape[1] != 2 or kp.shape[0] != len(joint_finger):
        raise ValueError(f"kp2d must be ({len(joint_finger)}, 2) for this layout, got {kp.shape}")
    vis = np.ones(len(kp), dtype=bool) if visible is None else np.asarray(visible, dtype=bool)

    def colour_of(joint: int) -> Colour | str:
        return colour if colour is not None else FINGER_COLOURS[joint_finger[joint]]

    for parent, child in bones:
        dashed = not (vis[parent] and vis[child])
        ax.plot(kp[[parent, child], 0], kp[[parent, child], 1], color=colour_of(child),
                linewidth=linewidth, linestyle="--" if dashed else "-", solid_capstyle="round")
    for joint in range(len(kp)):
        c = colour_of(joint)
        ax.plot(kp[joint, 0], kp[joint, 1], marker="o", markersize=markersize, linestyle="none",
                markerfacecolor=c if vis[joint] else "none", markeredgecolor=c,
                markeredgewidth=1.2)
    if label is not None:
        ax.plot([], [], color=colour if colour is not None else "0.3", linewidth=linewidth,
                label=label)
    return ax


def draw_skeleton_3d(ax, kp3d: np.ndarray, *, bones: Sequence[tuple[int, int]] = BONES,
                     colour: Colour | str = "0.3", linewidth: float = 1.8) -> Axes:
    """Draw one hand's 3D skeleton (J, 3) camera mm on a ``projection="3d"`` axis, seen from
    the camera (x right, y up on the screen: the camera's y points down, depth into the page),
    with equal scales on the three axes."""
    kp = np.asarray(kp3d, dtype=float)
    x, y, z = kp[:, 0], -kp[:, 1], kp[:, 2]
    for parent, child in bones:
        ax.plot(x[[parent, child]], z[[parent, child]], y[[parent, child]], color=colour,
                linewidth=linewidth)
    ax.scatter(x, z, y, color=colour, s=8)
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=0, azim=-90)  # looking along the depth axis, as the camera does
    return ax


def comparison_grid(
    images: Sequence[np.ndarray],
    predictions: Mapping[str, np.ndarray],
    ground_truth: np.ndarray | None = None,
    visible: np.ndarray | None = None,
    *,
    bones: Sequence[tuple[int, int]] = BONES,
    joint_finger: Sequence[str] = JOINT_FINGER,
    row_titles: Sequence[str] | None = None,
    panel_size: float = 2.6,
    zoom: bool = True,
) -> Figure:
    """Qualitative comparison: one row per image, columns ground truth then each method.

    As in RCSF Figs. 4–6: ``images`` are RGB (H, W, 3) or depth (H, W) frames, ``predictions``
    maps a method to its ``(N, J, 2)`` keypoints, ``ground_truth`` is ``(N, J, 2)`` and
    ``visible`` ``(N, J)`` (applied to every column, so occluded joints look the same across
    methods). With ``zoom`` every panel of a row shows the ground-truth hand's neighbourhood.
    """
    columns = (["ground truth"] if ground_truth is not None else []) + list(predictions)
    keypoints = ([ground_truth] if ground_truth is not None else []) + list(predictions.values())
    n = len(images)
    for name, kp in zip(columns, keypoints):
        if len(kp) != n:
            raise ValueError(f"{name}: {len(kp)} keypoint sets for {n} images")
    fig, axes = plt.subplots(n, len(columns), figsize=(panel_size * len(columns), panel_size * n),
                             squeeze=False)
    for row in range(n):
        for col, (name, kp) in enumerate(zip(columns, keypoints)):
            ax = axes[row, col]
            show_image(ax, images[row])
            draw_skeleton(ax, kp[row], None if visible is None else visible[row], bones=bones,
                          joint_finger=joint_finger, linewidth=1.5, markersize=3.5)
            if zoom:
                zoom_to(ax, ground_truth[row] if ground_truth is not None else kp[row])
            if row == 0:
                ax.set_title(name, fontsize="small")
        if row_titles is not None:
            axes[row, 0].text(-0.04, 0.5, row_titles[row], transform=axes[row, 0].transAxes,
                              rotation=90, ha="right", va="center", fontsize="small")
    fig.tight_layout()
    return fig


def note_figure(text: str, figsize: tuple[float, float] = (6.5, 1.2)) -> Figure:
    """A figure that only says ``text``: what a chapter draws in place of a figure it could not
    make (e.g. its dataset is absent from ``data_root``), so the page says why."""
    fig, ax = plt.subplots(figsize=figsize)
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    ax.axis("off")
    return fig
