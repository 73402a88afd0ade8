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


#: 2D heat maps, the codec every model of this paper predicts.
_HEATMAPS = {"codecs": ["heatmap2d"], "codec": "heatmap2d"}

#: The paper's models (``handlib.models``): name -> the ``module:function`` that builds it, the
#: codecs it works with, and the codec and loss a run gets when it names none.
MODELS: dict[str, dict] = {
    "rcsf": {"build": "handlib.papers.rcsf.models:rcsf", **_HEATMAPS, "loss": "rcsf"},
    "rcsf_global_only": {"build": "handlib.papers.rcsf.models:rcsf_global_only", **_HEATMAPS,
                         "loss": "heatmap_mse"},  # GlobalNet alone: one heat-map output
    "rcsf_high_res_first": {"build": "handlib.papers.rcsf.models:rcsf_high_res_first",
                            **_HEATMAPS, "loss": "rcsf"},
    "cpn50": {"build": "handlib.papers.rcsf.cpn:cpn50", **_HEATMAPS, "loss": "cpn"},
    "cpn101": {"build": "handlib.papers.rcsf.cpn:cpn101", **_HEATMAPS, "loss": "cpn"},
}

#: The paper's losses (``handlib.losses``): name -> ``module:function``.
LOSSES: dict[str, str] = {
    "rcsf": "handlib.papers.rcsf.losses:rcsf",
    "cpn": "handlib.papers.rcsf.losses:cpn",
}
