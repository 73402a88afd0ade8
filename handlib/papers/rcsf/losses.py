"""RCSF's and CPN's training losses (RCSF §3.3, eq. 3; CPN, Chen et al. 2018, §3.3).

Both build on the shared heat-map terms of ``handlib.losses`` (the per-joint target-weighted
squared error ``e_bj`` and online hard keypoint mining, RCSF eqs. 1-2).

- ``rcsf``: RCSF eq. (3), ``L_total = L_G + L_R``: ``global`` = eq. (1) on
  ``outputs["global_heatmaps"]`` (GlobalNet's intermediate heat map), ``regional`` = eq. (2) on
  ``outputs["heatmaps"]`` with ``m`` (``m=None`` or ``m=21`` keeps every joint: "Ours *", the
  model without OHKM). The paper's best ``m`` is 11 (Table 5), the default.
- ``cpn``: GlobalNet L2 on each of its pyramid levels (``outputs["global_heatmaps"]`` of shape
  (B, L, J, h, w)), summed over levels, plus RefineNet OHKM on ``outputs["heatmaps"]``. CPN kept
  M = 8 of 17 COCO keypoints; RCSF says the baselines were trained "under the same experimental
  settings", so the default here is RCSF's m = 11 of 21.

**Where this CPN loss differs from the CPN reference code** (a choice, written down because it
can change results): the reference code supervises each GlobalNet level with its own Gaussian
size (larger kernels at the coarser levels) and averages, rather than sums, the top-k joint
losses of RefineNet. We use one target (the dataset's ``sigma``) for every level, as RCSF
describes one heat-map target for all its models, and sums over the kept joints as RCSF's eq. (2)
writes them; with Adam a constant scale of a term changes little, but the per-level kernel
sizes are not reproduced.
"""
from __future__ import annotations

from handlib.losses import LossFn, hard_keypoint_sum, per_joint_mse, target_weight


def rcsf(m: int | None = 11) -> LossFn:
    """RCSF eq. (3): ``global`` (eq. 1, GlobalNet) + ``regional`` (eq. 2 with ``m``,
    RegionalNet)."""

    def loss(outputs: dict, batch: dict) -> dict[str, torch.Tensor]:
        weight = target_weight(batch)
        global_errors = per_joint_mse(outputs["global_heatmaps"], batch["heatmaps"], weight)
        regional_errors = per_joint_mse(outputs["heatmaps"], batch["heatmaps"], weight)
        return {
            "global": global_errors.sum(dim=1).mean(),
            "regional": hard_keypoint_sum(regional_errors, m),
        }

    return loss


def cpn(m: int | None = 11) -> LossFn:
    """CPN: L2 on every GlobalNet level (summed) + OHKM with ``m`` on the RefineNet output."""

    def loss(outputs: dict, batch: dict) -> dict[str, torch.Tensor]:
        weight = target_weight(batch)
        levels = outputs["global_heatmaps"]
        if levels.dim() != 5:
            raise ValueError(
                "the cpn loss expects outputs['global_heatmaps'] of shape (B, levels, J, h, w), "
                f"got {tuple(levels.shape)}"
            )
        global_term = sum(
            per_joint_mse(levels[:, level], batch["heatmaps"], weight).sum(dim=1).mean()
            for level in range(levels.shape[1])
        )
        refine_errors = per_joint_mse(outputs["heatmaps"], batch["heatmaps"], weight)
        return {"global": global_term, "refine": hard_keypoint_sum(refine_errors, m)}

    return loss
