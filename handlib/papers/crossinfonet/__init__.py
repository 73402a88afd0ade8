"""Paper 5, CrossInfoNet (Du et al. 2019): palm and finger branches with cross-connections and
heat-map guidance, for the 3D hand pose from one depth map.

So far this package holds:

- ``paper.yaml``: the transcription of the paper's settings, tables and claims;
- ``models.py``: the network and its Table 1 variants (Base, Base+HM, Cross, Cross+HM) with the
  ablations its claims need (one branch; one cross mask only), and the loss of eq. 7.

Its profiles, study and chapter join it when the chapter is built (see the book's page "Adding
a paper").
"""
