"""Paper 3, InterNet+ (Liu et al. 2021): a light attention extractor in front of InterNet's
PoseNet, for the 3D pose of one or two hands.

Everything of this paper in one place:

- ``models.py``: the Table 1 extractor (inverted residuals with coordinate attention,
  Meta-ACON-C, the FcaNet layer) and its variants (Tables 6-7 and the claims without a table);
  the layers are the shared ``handlib.models.layers``, the heads ``handlib.models.internet``;
- ``study.py``: what the chapter ``notebooks/12_internet_plus.ipynb`` computes from the runs:
  Tables 1-7, Figs. 5-7, the two readings of the restart schedule and the claim inputs;
- ``profiles.yaml``: every run the chapter trains, under each profile;
- ``paper.yaml``: the transcription of the paper's settings, its seven tables and its claims,
  with how the chapter tests each (``test``) and the checklist items derived from them.
"""


#: InterNet's 2.5D heat maps, relative root depth and hand type, which InterNet+ keeps.
_INTERNET_HEADS = {"codecs": ["heatmap3d"], "codec": "heatmap3d", "loss": "internet"}

#: The paper's models (``handlib.models``): name -> the ``module:function`` that builds it, the
#: codecs it works with, and the codec and loss a run gets when it names none. The extractor
#: alone is a trunk without heads: it predicts no codec's targets.
MODELS: dict[str, dict] = {
    "internet_plus_extractor": {"build": "handlib.papers.internet_plus.models:extractor",
                                "codecs": [], "codec": None, "loss": None},
    "internet_plus": {"build": "handlib.papers.internet_plus.models:internet_plus",
                      **_INTERNET_HEADS},
    "internet_plus_no_ca": {"build": "handlib.papers.internet_plus.models:internet_plus_no_ca",
                            **_INTERNET_HEADS},
    "internet_plus_se": {"build": "handlib.papers.internet_plus.models:internet_plus_se",
                         **_INTERNET_HEADS},
    "internet_plus_cbam": {"build": "handlib.papers.internet_plus.models:internet_plus_cbam",
                           **_INTERNET_HEADS},
    "internet_plus_no_fcanet": {
        "build": "handlib.papers.internet_plus.models:internet_plus_no_fcanet",
        **_INTERNET_HEADS},
    "internet_plus_relu": {"build": "handlib.papers.internet_plus.models:internet_plus_relu",
                           **_INTERNET_HEADS},
    "internet_plus_residual": {
        "build": "handlib.papers.internet_plus.models:internet_plus_residual",
        **_INTERNET_HEADS},
}
