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


#: InterNet's 2.5D heat maps, relative root depth and hand type, which MS-FF's heads predict.
_INTERNET_HEADS = {"codecs": ["heatmap3d"], "codec": "heatmap3d", "loss": "internet"}

#: The paper's models (``handlib.models``): name -> the ``module:function`` that builds it, the
#: codecs it works with, and the codec and loss a run gets when it names none.
MODELS: dict[str, dict] = {
    "msff": {"build": "handlib.papers.msff.models:msff", **_INTERNET_HEADS},
    "msff_no_channel_conversion": {
        "build": "handlib.papers.msff.models:msff_no_channel_conversion", **_INTERNET_HEADS},
    "msff_no_global_regression": {
        "build": "handlib.papers.msff.models:msff_no_global_regression", **_INTERNET_HEADS},
    "msff_no_local_optimization": {
        "build": "handlib.papers.msff.models:msff_no_local_optimization", **_INTERNET_HEADS},
    "zb_posenet": {"build": "handlib.papers.msff.posenet:zb_posenet",
                   "codecs": ["scoremap_lift"], "codec": "scoremap_lift", "loss": "zb_posenet"},
}

#: The paper's losses (``handlib.losses``): name -> ``module:function``.
LOSSES: dict[str, str] = {
    "zb_posenet": "handlib.papers.msff.posenet:zb_posenet_loss",
}
