"""Hand-made two-hand prediction records with known errors, shared by the tests of the InterNet
family's chapters (MS-FF, InterNet+): frames 0-5 interacting, 6-11 one hand (right and left
alternately); every non-wrist joint of every predicted hand is off by ``error_mm`` along one
direction, the wrist is exact, so the root-aligned error of a hand is 20/21 of it."""
import numpy as np

from handlib.skeleton import NUM_JOINTS

N = 12
ALIGNED = 20 / 21


def two_hand_record(error_mm: float, *, hand_type: bool = True,
                    wrong_hand: bool = False) -> dict[str, np.ndarray]:
    """A record of the same 12 test frames; ``hand_type`` adds a hand-type prediction (the true
    hands, or with ``wrong_hand`` the other hand on every one-hand frame)."""
    rng = np.random.default_rng(0)  # the same test set for every run
    kp3d = rng.normal(0, 40, (N, 2, NUM_JOINTS, 3)) + np.array([0, 0, 500.0])
    hand_valid = np.ones((N, 2), bool)
    hand_valid[6::2, 1] = False   # right hand only
    hand_valid[7::2, 0] = False   # left hand only
    kp3d[~hand_valid] = np.nan
    direction = np.array([0.6, 0.8, 0.0])
    pred = kp3d + error_mm * direction
    pred[:, :, 0] = kp3d[:, :, 0]                 # the wrist exact
    pred[~hand_valid] = 1e3                       # the empty slot: far away
    kind = np.zeros((N, 2, NUM_JOINTS), np.int8)
    kind[:6, :, 1:4] = 3                          # occluded by the other hand
    kind[:6, 0, 4] = 1                            # self-occluded
    kind[0, 1, 5:9] = 3                           # frame 0: the most joints hidden
    record = {
        "index": np.arange(N), "kp3d": kp3d.reshape(N, 42, 3).astype(np.float32),
        "kp3d_rel_pred": (pred - pred[:, :, :1]).reshape(N, 42, 3).astype(np.float32),
        "kp2d": rng.uniform(0, 64, (N, 42, 2)).astype(np.float32),
        "labelled": np.repeat(hand_valid, NUM_JOINTS, axis=1),
        "in_frame": np.ones((N, 42), bool), "visible": (kind == 0).reshape(N, 42),
        "visibility_kind": kind.reshape(N, 42), "hand_valid": hand_valid,
        "norm_size": np.full(N, 50.0, np.float32),
    }
    record["kp2d_pred"] = record["kp2d"] + 1.0
    if hand_type:
        predicted = hand_valid.astype(np.float32)
        if wrong_hand:
            predicted[6:] = predicted[6:, ::-1]
        record["hand_type_pred"] = predicted
    return record
