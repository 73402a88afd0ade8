"""Paper 1, RCSF (Guan et al. 2023): repeated cross-scale fusion for 2D hand pose.

Everything of this paper in one place:

- ``models.py``: RCSF (GlobalNet + RegionalNet) and the two Table 4 design variants;
- ``cpn.py``: the CPN-50/101 baselines (their top-down pyramid is shared with RCSF's GlobalNet);
- ``losses.py``: RCSF's eq. (3) and CPN's loss (OHKM and the heat-map L2 are in
  ``handlib.losses``; the HRNet baselines are in the shared ``handlib.models.hrnet``);
- ``study.py``: what the chapter ``notebooks/10_rcsf.ipynb`` computes from the runs: the tables
  in the paper's layout, the figure selections and the claim inputs;
- ``profiles.yaml``: every run the chapter trains, under each profile, and the declarative
  map from the paper's tables to those runs;
- ``paper.yaml``: the transcription of the paper's settings, tables and claims.
"""
