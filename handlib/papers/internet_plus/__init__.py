"""Paper 3, InterNet+ (Liu et al. 2021): a light attention extractor in front of InterNet's
PoseNet, for the 3D pose of one or two hands.

Everything of this paper in one place:

- ``models.py``: the Table 1 extractor (inverted residuals with coordinate attention,
  Meta-ACON-C, the FcaNet layer) and its variants (Tables 6-7 and the claims without a table);
  the layers are the shared ``handlib.models.layers``, the heads ``handlib.models.internet``;
- ``study.py``: what the chapter ``notebooks/12_internet_plus.ipynb`` computes from the runs:
  Tables 1-7, Figs. 5-7, the two readings of the restart schedule and the claim inputs;
- ``profiles.yaml``: every run the chapter trains, under each profile;
- ``paper.yaml``: the transcription of the paper's settings, its seven tables and its claims.
"""
