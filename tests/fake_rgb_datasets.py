"""Tiny copies of RHD and STB in their published layouts, with known values, for the loader
tests and for end-to-end runs of a chapter's ``paper`` profile (:func:`write_rcsf_data_root`).

Each writer returns the values it wrote so tests can check the loaded samples field by field:

- :func:`write_rhd` ``(root, n_train=2, n_eval=1, size=320)`` writes ``training/`` and
  ``evaluation/`` (a set with 0 images is not written at all), ``size`` x ``size`` images with the
  camera matrix scaled to match, so both hands project inside the image at any size;
- :func:`write_stb` ``(root, frames=2, sequences=all 12, image_sequences=None, cameras=all 3)``
  writes the label files and image folders of ``sequences`` and the frames of
  ``image_sequences`` (``None``: all of ``sequences``) for ``cameras``; STB's intrinsics are
  fixed, so its images keep the published 640x480;
- :func:`write_ganerated` ``(root, folders=GANERATED_FOLDERS, frames=2)`` writes
  ``data/<kind>/<NNNN>/`` folders of decodable frames (256x256 crops with their joint and crop
  files); :func:`write_synthhands` ``(root, sequences=SYNTHHANDS_SEQUENCES, cameras=2, frames=1,
  images=True)`` writes ``<top>/<seq>/cam<NN>/01/`` folders of joint files (and colour images);
- :func:`write_interhand` ``(root, splits=("test",), frames=2, official=True)`` writes the three
  annotation files and the 334x512 images of each of ``splits`` (InterHand2.6M's native
  ``annotations/<split>/`` and ``images/<split>/``, or MMPose's flat copy);
- :func:`write_rcsf_data_root` ``(root) -> root`` writes ``root/STB/`` and
  ``root/RHD_published_v2/`` with every RCSF split (rcsf_train / rcsf_val / rcsf_test) at least
  two samples: STB 8 / 2 / 2, RHD 29 / 2 / 2;
- :func:`write_msff_data_root` ``(root) -> root`` writes ``root/RHD_published_v2/`` (rcsf_train
  7, rcsf_val 1, rcsf_test 2) and ``root/InterHand2.6M/`` (train, val and test,
  :data:`MSFF_INTERHAND_FRAMES` frames each);
- :func:`write_internet_plus_data_root` ``(root) -> root`` writes ``root/STB/`` (train:fit 9,
  train:val 1, test 2), ``root/RHD_published_v2/`` (as MS-FF's) and ``root/InterHand2.6M/``
  (train, val and test, :data:`INTERNET_PLUS_INTERHAND_FRAMES` frames each).
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.io
from PIL import Image
from scipy.spatial.transform import Rotation

from handlib.data.formats import common, ganerated, interhand, rhd, stb, synthhands
from handlib.skeleton import finger_joints

#: STB image prefixes per camera (``stb.IMAGE_PREFIX``: SK colour, Bumblebee left and right).
STB_CAMERAS: tuple[str, ...] = tuple(stb.IMAGE_PREFIX.values())
#: Training images of the RHD copy in :func:`write_rcsf_data_root`: the smallest count whose RCSF
#: validation share round(n * 2,728 / 41,258) is 2 with a margin (31 → 2.05; 23 would be 1.52).
RCSF_RHD_TRAIN = 31
#: Side of the RHD images there (the camera matrix is scaled from the published 320).
RCSF_RHD_SIZE = 64


def canonical_hand(seed=0, z=500.0):
    """A distinct (21, 3) mm hand in front of the camera: joints far enough apart that any
    order mix-up changes the values."""
    rng = np.random.default_rng(seed)
    return np.array([0.0, 0.0, z]) + rng.uniform(-60, 60, size=(21, 3)) + np.arange(21)[:, None] * [1.0, 2.0, 3.0]


def to_native(canonical, table):
    """Inverse of skeleton.reorder: native[table[i]] = canonical[i]."""
    native = np.zeros_like(canonical)
    native[..., list(table), :] = canonical
    return native


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, compress_level=1)


def pattern_image(h, w, seed, block=4):
    """A known (h, w, 3) uint8 image, different for every seed and not symmetric: random colours in
    ``block`` x ``block`` squares (so that large frames stay small and quick as PNG)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(-(-h // block), -(-w // block), 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, block, axis=0), block, axis=1)[:h, :w]


# ----------------------------------------------------------------------------------------- RHD
def write_rhd(root, n_train=2, n_eval=1, size=320):
    """RHD_published_v2 with known values; returns {set: [(canonical_left, canonical_right, vis, K)]}.

    Image ``i`` of a set shows left hand ``canonical_hand(10 i + 1)`` and right hand
    ``canonical_hand(10 i + 2, z=600)``; native joints 1 (left thumb tip) and 27 (right index DIP)
    are marked invisible. The mask makes the left hand dominant in image 0 and the right one in the
    others. ``size`` is the image side; the published 320 keeps the camera matrix below, other sizes
    scale it, so the hands project to the same relative place. A set with 0 images is not written.
    """
    root = Path(root)
    scale = size / 320.0
    px = lambda v: int(round(v * scale))  # noqa: E731 - a length in the published 320 px frame
    truth = {}
    for set_dir, n in (("training", n_train), ("evaluation", n_eval)):
        truth[set_dir] = []
        if n == 0:
            continue
        anno = {}
        for i in range(n):
            K = common.intrinsics((280.0 + i) * scale, (281.0 + i) * scale, 160.0 * scale, 158.0 * scale)
            left, right = canonical_hand(10 * i + 1), canonical_hand(10 * i + 2, z=600.0)
            xyz = np.concatenate([to_native(left, rhd.RHD_TO_CANONICAL), to_native(right, rhd.RHD_TO_CANONICAL)])
            uv = common.project(xyz, K)
            vis = np.ones(42)
            vis[[1, 27]] = 0  # left thumb tip, right index DIP (native indices)
            anno[i] = {"xyz": (xyz / 1000.0).astype(np.float32), "uv_vis": np.c_[uv, vis].astype(np.float32),
                       "K": K.astype(np.float32)}
            write_png(root / set_dir / "color" / f"{i:05d}.png", pattern_image(size, size, i))
            mask = np.zeros((size, size), np.uint8)
            mask[:px(40), :px(40)] = 5  # left index: 1600 px at 320
            # right thumb: 1500 px at 320 (i = 0, left dominant) or 2500 px (right dominant)
            mask[px(100):px(100) + px(30 if i == 0 else 50), :px(50)] = 20
            write_png(root / set_dir / "mask" / f"{i:05d}.png", mask)
            depth = np.zeros((size, size, 3), np.uint8)
            depth[..., 0], depth[..., 1] = 12, 34
            write_png(root / set_dir / "depth" / f"{i:05d}.png", depth)
            truth[set_dir].append((left, right, vis, K))
        with open(root / set_dir / f"anno_{set_dir}.pickle", "wb") as handle:
            pickle.dump(anno, handle, protocol=2)
    return truth


# ----------------------------------------------------------------------------------------- STB
def stb_hand_seed(sequence, frame):
    """Seed of the hand (``canonical_hand``) and image (``pattern_image``) of a frame: B1Counting
    frame f is f (+100 for the hand); every sequence differs."""
    return frame + 1000 * stb.SEQUENCES.index(sequence)


def write_stb(root, frames=2, sequences=stb.SEQUENCES, image_sequences=None, cameras=STB_CAMERAS):
    """STB with ``frames`` frames in each of ``sequences``: their SK and BB label files and image
    folders, and the 640x480 frames of ``image_sequences`` (``None``: every one of ``sequences``)
    for ``cameras`` (image prefixes, default SK_color, BB_left, BB_right, all the same image).
    Returns {sequence: canonical colour-frame joints (frames, 21, 3)}, wrist at index 0."""
    root = Path(root)
    image_sequences = sequences if image_sequences is None else image_sequences
    (root / "labels").mkdir(parents=True, exist_ok=True)
    truth = {}
    R = Rotation.from_rotvec(stb.SK_ROTATION_VECTOR).as_matrix()  # independent of stb.rodrigues
    for seq in sequences:
        (root / "images" / seq).mkdir(parents=True, exist_ok=True)
        color = np.stack([canonical_hand(100 + stb_hand_seed(seq, f)) for f in range(frames)])
        # the published root is the palm centre: wrist = ring + 2 (palm - ring) ⇔ palm = (wrist + ring) / 2
        with_palm = color.copy()
        ring = color[:, finger_joints("ring")[0]]
        with_palm[:, 0] = (color[:, 0] + ring) / 2
        depth_frame = with_palm @ R.T + stb.SK_TRANSLATION_MM  # readme: x_depth = R x_color + T
        for kind, xyz in (("SK", depth_frame), ("BB", with_palm)):
            native = to_native(xyz, stb.STB_TO_CANONICAL)
            scipy.io.savemat(root / "labels" / f"{seq}_{kind}.mat", {"handPara": native.transpose(2, 1, 0)})
        truth[seq] = color
    for seq in image_sequences:
        for f in range(frames):
            image = pattern_image(480, 640, stb_hand_seed(seq, f))
            for prefix in cameras:
                write_png(root / "images" / seq / f"{prefix}_{f}.png", image)
    return truth


# ------------------------------------------------------------------------------- InterHand2.6M
#: The camera of every InterHand2.6M frame written here: world -> camera rotation, its position
#: (mm) and its intrinsics; the published images are 334 wide and 512 tall.
INTERHAND_R = Rotation.from_euler("xyz", [10, -20, 5], degrees=True).as_matrix()
INTERHAND_CAMPOS = np.array([100.0, -50.0, 30.0])
INTERHAND_K = common.intrinsics(1200.0, 1210.0, 167.0, 256.0)
INTERHAND_SIZE = (334, 512)
#: Hand type of frame i of a split: frame i shows INTERHAND_HAND_TYPES[i % 3].
INTERHAND_HAND_TYPES = ("interacting", "left", "right")
#: Added to a frame's index within its split to seed its hands and image (distinct per split).
INTERHAND_SPLIT_OFFSET = {"train": 0, "val": 1000, "test": 2000}


class InterHandFrame(NamedTuple):
    """One frame :func:`write_interhand` wrote: canonical camera-frame joints (21, 3) mm of each
    hand (both are written whatever the hand type), the hand type, the annotated box (x, y, w, h)
    and the camera matrix."""

    right: np.ndarray
    left: np.ndarray
    hand_type: str
    bbox: np.ndarray
    K: np.ndarray


def write_interhand(root, splits=("test",), frames=2, official=True) -> dict[str, list[InterHandFrame]]:
    """InterHand2.6M with ``frames`` frames in each of ``splits`` ("train", "val", "test"); returns
    {split: [InterHandFrame, ...]} in the order the loader reads them.

    ``official``: the release's layout, ``annotations/<split>/InterHand2.6M_<split>_{data,camera,
    joint_3d}.json`` with the images under ``images/<split>/Capture1/seq/cam400001/``; otherwise
    MMPose's flat ``<split>_interhand2.6m_{data,camera,joint_3d}.json`` with the images beside them.

    Frame i of a split is capture 1, camera 400001, ``frame_idx`` 5 + i, with right hand
    ``canonical_hand(31 + 10 k, z=900)`` and left hand ``canonical_hand(32 + 10 k, z=950)``
    (k = i + the split's :data:`INTERHAND_SPLIT_OFFSET`) and hand type
    :data:`INTERHAND_HAND_TYPES` ``[i % 3]``. Every joint is annotated except the right thumb tip
    (canonical 4) of interacting frames; frame 1 (type "left") also has its left wrist unannotated,
    so neither of its hands counts (the loader's rule). The box is the one InterHand2.6M annotates:
    the tight box of the hand(s) the type names, enlarged 1.2x about its centre. Images are
    334x512 JPEGs of ``pattern_image(512, 334, 7 + k)``.
    """
    root = Path(root)
    written = {}
    for split in splits:
        images, annotations, joints, written[split] = [], [], {}, []
        for i in range(frames):
            k = i + INTERHAND_SPLIT_OFFSET[split]
            right, left = canonical_hand(31 + 10 * k, z=900.0), canonical_hand(32 + 10 * k, z=950.0)
            cam42 = np.concatenate([to_native(right, interhand.INTERHAND_TO_CANONICAL),
                                    to_native(left, interhand.INTERHAND_TO_CANONICAL)])
            world = cam42 @ INTERHAND_R + INTERHAND_CAMPOS  # inverse of x_cam = R (x_world - campos)
            hand_type = INTERHAND_HAND_TYPES[i % 3]
            valid = np.ones(42, int)
            if hand_type == "interacting":
                valid[0] = 0  # right thumb tip (native 0, canonical 4)
            if i == 1:
                valid[41] = 0  # left wrist: the whole left hand counts as unannotated
            shown = [hand for side, hand in (("right", right), ("left", left))
                     if hand_type in (side, "interacting")]
            box = common.bbox_from_keypoints(common.project(np.concatenate(shown), INTERHAND_K),
                                             np.ones(21 * len(shown), bool))
            centre = box[:2] + box[2:] / 2
            bbox = np.r_[centre - 0.6 * box[2:], 1.2 * box[2:]]
            file_name = f"Capture1/seq/cam400001/image{5 + i}.jpg" if official else f"image{k}.jpg"
            images.append({"id": 7 + k, "file_name": file_name, "width": INTERHAND_SIZE[0],
                           "height": INTERHAND_SIZE[1], "capture": 1, "subject": 1,
                           "seq_name": "seq", "camera": "400001", "frame_idx": 5 + i})
            annotations.append({"id": 7 + k, "image_id": 7 + k, "bbox": bbox.tolist(),
                                "joint_valid": [[int(v)] for v in valid], "hand_type": hand_type,
                                "hand_type_valid": 1})
            joints[str(5 + i)] = {"world_coord": world.tolist(), "joint_valid": [[1]] * 42,
                                  "hand_type": hand_type, "hand_type_valid": 1}
            written[split].append(InterHandFrame(right, left, hand_type, bbox, INTERHAND_K))
        cameras = {"1": {"campos": {"400001": INTERHAND_CAMPOS.tolist()},
                         "camrot": {"400001": INTERHAND_R.tolist()},
                         "focal": {"400001": [INTERHAND_K[0, 0], INTERHAND_K[1, 1]]},
                         "princpt": {"400001": [INTERHAND_K[0, 2], INTERHAND_K[1, 2]]}}}
        folder = root / "annotations" / split if official else root
        folder.mkdir(parents=True, exist_ok=True)
        for kind, content in zip(interhand.KINDS, ({"images": images, "annotations": annotations},
                                                   cameras, {"1": joints})):
            name = (f"InterHand2.6M_{split}_{kind}.json" if official
                    else f"{split}_interhand2.6m_{kind}.json")
            (folder / name).write_text(json.dumps(content))
        image_dir = root / "images" / split if official else root
        for image in images:
            path = image_dir / image["file_name"]
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pattern_image(INTERHAND_SIZE[1], INTERHAND_SIZE[0], image["id"])).save(
                path, quality=95)
    return written


# -------------------------------------------------------------------------------- RCSF data root
def write_rcsf_data_root(root: Path) -> Path:
    """``root/STB/`` and ``root/RHD_published_v2/`` (one folder per dataset, as the RCSF chapter's
    ``paper`` profile reads them) with every RCSF split at least two samples: STB one frame per
    sequence (rcsf_train B3-B6: 8, rcsf_val B2: 2, rcsf_test B1: 2), RHD 31 training images of
    64x64 (rcsf_train 29, rcsf_val round(31 * 2,728 / 41,258) = 2) and 2 evaluation images
    (rcsf_test 2). Returns ``root``."""
    root = Path(root)
    write_rhd(root / "RHD_published_v2", n_train=RCSF_RHD_TRAIN, n_eval=2, size=RCSF_RHD_SIZE)
    write_stb(root / "STB", frames=1)
    return root


# ------------------------------------------------------------------------------- MS-FF data root
#: Frames of each InterHand2.6M split in :func:`write_msff_data_root`: two of each hand type
#: (interacting, left, right), so that every split has interacting and single-hand frames.
MSFF_INTERHAND_FRAMES = 6
#: Training images of the RHD copy there: the fewest whose RCSF validation share
#: round(n * 2,728 / 41,258) is not empty (8 -> 0.53 -> 1; 7 would give 0).
MSFF_RHD_TRAIN = 8


def write_msff_data_root(root: Path) -> Path:
    """``root/RHD_published_v2/`` and ``root/InterHand2.6M/`` (one folder per dataset, as the MS-FF
    chapter's ``paper`` profile reads them): RHD with :data:`MSFF_RHD_TRAIN` training and 2
    evaluation images of 64x64 (rcsf_train 7, rcsf_val 1, rcsf_test 2), InterHand2.6M in its
    official layout with :data:`MSFF_INTERHAND_FRAMES` frames in each of train, val and test.
    Returns ``root``."""
    root = Path(root)
    write_rhd(root / "RHD_published_v2", n_train=MSFF_RHD_TRAIN, n_eval=2, size=RCSF_RHD_SIZE)
    write_interhand(root / "InterHand2.6M", splits=("train", "val", "test"),
                    frames=MSFF_INTERHAND_FRAMES)
    return root


# ------------------------------------------------------------------------- GANerated, SynthHands
#: 20 GANerated folders (``<kind>/<NNNN>``, relative to ``data/``): 0001-0010 of both kinds. Under
#: the hash rule (``ganerated.folder_split``) withObject/0003, 0008, 0009 are val and 0007 test,
#: the rest train, so every split is non-empty.
GANERATED_FOLDERS: tuple[str, ...] = tuple(
    f"{kind}/{i:04d}" for kind in ganerated.OBJECT_KINDS for i in range(1, 11)
)
#: 20 SynthHands sequences (``<top>/seq<NN>``): seq01-seq05 of each of the four top folders; by
#: ``synthhands.sequence_split`` seq01 is test, seq02 val, seq03-05 train in each.
SYNTHHANDS_SEQUENCES: tuple[str, ...] = tuple(
    f"{top}/seq{i:02d}" for top in synthhands.TOP_FOLDERS for i in range(1, 6)
)


def write_ganerated(root, folders=GANERATED_FOLDERS, frames=2):
    """``data/noObject/`` and ``data/withObject/`` (both always, even if empty) with ``frames``
    decodable frames in each of ``folders``; frame f of the k-th folder shows
    ``canonical_hand(100 k + f)``. Returns {stem: kp3d} (stem = ``<kind>/<NNNN>/<FFFF>``)."""
    root = Path(root)
    for kind in ganerated.OBJECT_KINDS:
        (root / "data" / kind).mkdir(parents=True, exist_ok=True)
    u, v, scale = 200.0, 100.0, 0.8
    truth = {}
    for k, folder in enumerate(folders):
        path = root / "data" / folder
        path.mkdir(parents=True, exist_ok=True)
        for f in range(1, frames + 1):
            kp3d = canonical_hand(100 * k + f)
            kp2d = scale * (common.project(kp3d, ganerated.FULL_K) - [u, v])
            for name, values in (("joint2D", kp2d), ("joint_pos_global", kp3d),
                                 ("crop_params", np.array([u, v, scale])), ("joint_pos", np.zeros((21, 3)))):
                (path / f"{f:04d}_{name}.txt").write_text(", ".join(f"{x:.6f}" for x in np.ravel(values)))
            write_png(path / f"{f:04d}{ganerated.IMAGE_SUFFIX}", pattern_image(256, 256, 100 * k + f, block=16))
            truth[f"{folder}/{f:04d}"] = kp3d
    return truth


def write_synthhands(root, sequences=SYNTHHANDS_SEQUENCES, cameras=2, frames=1, images=True):
    """The four top folders (always) with ``cameras`` cameras x part ``01`` x ``frames`` frames in
    each of ``sequences`` (``<top>/<seq>``): joint files and, if ``images``, the 640x480 colour
    image (what a default ``open_split`` sample reads). Returns the stems written."""
    root = Path(root)
    for top in synthhands.TOP_FOLDERS:
        (root / top).mkdir(parents=True, exist_ok=True)
    stems = []
    for k, sequence in enumerate(sequences):
        for cam in range(1, cameras + 1):
            leaf = root / sequence / f"cam{cam:02d}" / "01"
            leaf.mkdir(parents=True, exist_ok=True)
            for f in range(frames):
                kp3d = canonical_hand(1000 + 10 * k + cam)
                (leaf / f"{f:08d}{synthhands.JOINT_SUFFIX}").write_text(",".join(f"{x:.6f}" for x in kp3d.ravel()))
                if images:
                    write_png(leaf / f"{f:08d}_color.png", pattern_image(480, 640, k, block=32))
                stems.append(f"{sequence}/cam{cam:02d}/01/{f:08d}")
    return stems


# ------------------------------------------------------------------------- ResUnet data root
def write_resunet_data_root(root: Path) -> Path:
    """``root/GANeratedHands_Release/``, ``root/SynthHands_Release/`` and ``root/STB/`` (the
    folders the ResUnet chapter's ``paper`` profile reads) with every split it uses non-empty:
    GANerated one frame in each of :data:`GANERATED_FOLDERS` (train 16, val 3, test 1),
    SynthHands one camera and frame per sequence of :data:`SYNTHHANDS_SEQUENCES` (train 12,
    val 4, test 4), STB one frame per sequence (train B2-B6: 10, of which train:val holds 1 and
    train:fit 9; test B1: 2). Returns ``root``."""
    root = Path(root)
    write_ganerated(root / "GANeratedHands_Release", frames=1)
    write_synthhands(root / "SynthHands_Release", cameras=1)
    write_stb(root / "STB", frames=1)
    return root


# ------------------------------------------------------------------------ InterNet+ data root
#: Frames of each InterHand2.6M split in :func:`write_internet_plus_data_root`: one of each hand
#: type (interacting, left, right), so that the test split has interacting and single-hand frames.
INTERNET_PLUS_INTERHAND_FRAMES = 3


def write_internet_plus_data_root(root: Path) -> Path:
    """``root/STB/``, ``root/RHD_published_v2/`` and ``root/InterHand2.6M/`` (one folder per
    dataset, as the InterNet+ chapter's ``paper`` profile reads them): STB one frame per sequence
    (train B2-B6: 10, of which train:val holds 1 and train:fit 9; test B1: 2), RHD with
    :data:`MSFF_RHD_TRAIN` training and 2 evaluation images of 64x64 (rcsf_train 7, rcsf_val 1,
    rcsf_test 2), InterHand2.6M in its official layout with
    :data:`INTERNET_PLUS_INTERHAND_FRAMES` frames in each of train, val and test. Returns
    ``root``."""
    root = Path(root)
    write_stb(root / "STB", frames=1)
    write_rhd(root / "RHD_published_v2", n_train=MSFF_RHD_TRAIN, n_eval=2, size=RCSF_RHD_SIZE)
    write_interhand(root / "InterHand2.6M", splits=("train", "val", "test"),
                    frames=INTERNET_PLUS_INTERHAND_FRAMES)
    return root
