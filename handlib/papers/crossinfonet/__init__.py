"""Paper 5, CrossInfoNet (Du et al. 2019): palm and finger branches with cross-connections and
heat-map guidance, for the 3D hand pose from one depth map. Its chapter is
``notebooks/14_crossinfonet.ipynb``.

- ``paper.yaml``: the transcription of the paper's settings, tables and claims, each claim the
  book tests with its ``test`` block (``handlib.claims``: which runs or measurement, data,
  score, floor and noise);
- ``models.py``: the network and its Table 1 variants (Base, Base+HM, Cross, Cross+HM) with the
  ablations its claims need (one branch; one cross mask only), and the loss of eq. 7;
- ``profiles.yaml``: every run the chapter trains under each profile: Table 1's four variants
  on the ICVL-like and NYU-like stand-ins (real ICVL and NYU on ``paper``, validated on a held-out
  part of their training splits), the ablations on NYU, and on ``paper`` the full model on
  MSRA's nine leave-one-subject-out folds. ``handlib train --chapter crossinfonet`` trains them.
- ``study.py``: what the chapter computes: the mean 3D error over all, palm and finger joints,
  the constant-offset floor, Tables 1-3, Figs. 4, 7 and 8, and the scorer and measurements its
  claims' ``test`` blocks name (the runs, the published predictions, the paper's printed table,
  the bench).
"""


#: The 3D cube crop of a depth map, with heat maps of the palm and finger joints.
_DEPTH_CROP = {"codecs": ["depth_crop"], "codec": "depth_crop", "loss": "crossinfonet"}

#: The paper's models (``handlib.models``): name -> the ``module:function`` that builds it, the
#: codecs it works with, and the codec and loss a run gets when it names none.
MODELS: dict[str, dict] = {
    name: {"build": f"handlib.papers.crossinfonet.models:{name}", **_DEPTH_CROP}
    for name in ("crossinfonet", "crossinfonet_cross", "crossinfonet_base",
                 "crossinfonet_base_hm", "crossinfonet_single_branch",
                 "crossinfonet_palm_mask_only", "crossinfonet_finger_mask_only")
}

#: The paper's losses (``handlib.losses``): name -> ``module:function``.
LOSSES: dict[str, str] = {
    "crossinfonet": "handlib.papers.crossinfonet.models:crossinfonet_loss",
}
