"""Paper 2, MS-FF (Zhan & Luo 2023): multiscale feature fusion for the 3D pose of one or two
interacting hands, on the InterNet family.

Everything of this paper in one place:

- ``models.py``: MS-FF (channel conversion, global regression and local optimization modules on
  a ResNet-50 trunk, InterNet's heads) and its three module ablations; the InterNet baseline is
  the shared ``handlib.models.internet``;
- ``posenet.py``: the "PoseNet(2017)" baseline of Table 1 and Figs. 5-6, Zimmermann & Brox's
  score-map network and PosePrior (with its ``scoremap_lift`` codec in ``handlib.codecs``);
- ``study.py``: what the chapter ``notebooks/11_msff.ipynb`` computes from the runs: Table 1
  under its GT S / GT H protocols, the InterHand2.6M metrics, the occlusion and joint-type
  splits, Figs. 5-6 and the claim inputs;
- ``profiles.yaml``: every run the chapter trains, under each profile;
- ``paper.yaml``: the transcription of the paper's settings, its one table and its claims.
"""
