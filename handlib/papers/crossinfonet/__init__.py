"""Paper 5, CrossInfoNet (Du et al. 2019): palm and finger branches with cross-connections and
heat-map guidance, for the 3D hand pose from one depth map.

So far this package holds:

- ``paper.yaml``: the transcription of the paper's settings, tables and claims;
- ``models.py``: the network and its Table 1 variants (Base, Base+HM, Cross, Cross+HM) with the
  ablations its claims need (one branch; one cross mask only), and the loss of eq. 7;
- ``profiles.yaml``: every run the chapter trains under each profile: Table 1's four variants
  on the ICVL-like and NYU-like stand-ins (real ICVL and NYU on ``paper``, validated on a held-out
  part of their training splits), the ablations on NYU, and on ``paper`` the full model on
  MSRA's nine leave-one-subject-out folds. ``handlib train --chapter crossinfonet`` trains them.
- ``study.py``: the chapter's own scoring, built ahead of the notebook: the mean 3D error over
  all, palm and finger joints, the constant-offset floor, Table 1 and its claims, and Fig. 4's
  palm/finger subsets of ICVL, NYU and MSRA as data with their sources.

Its notebook joins them when the chapter is built (see the book's page "Adding a paper").
"""
