"""Paper 4, ResUnet (Bekiri & Babahenini): a ResNet-34 U-Net whose latent heat maps are read by a
soft-argmax with a learnable β, and whose 3D branch regresses bone vectors, for hands occluded
by objects in one RGB crop. Its chapter is ``notebooks/13_resunet.ipynb``.

- ``paper.yaml``: the transcription (the paper has no table: one in-text number and 17 claims);
- ``models.py``: the network, the controls its claims need (hard argmax, fixed β, direct joints,
  no skips, a plain ResNet-34 regressor) and the loss;
- ``profiles.yaml``: every run the chapter trains under each profile, on GANerated-, SynthHands-
  and STB-like stand-ins (the real datasets on ``paper``, with the book's published splits);
  ``handlib train --chapter resunet`` trains them;
- ``study.py``: the scores (2D in crop pixels, root-relative 3D, AUC under both protocols, bone
  angles), the floors, the occlusion and viewpoint breakdowns, Figs. 3-8 and the claims' inputs.
"""


#: Soft-argmax 2D joints and 3D bone vectors, the two outputs of the paper's models.
_COORDS_AND_BONES = {"codecs": [["softargmax2d", "bones3d"]],
                     "codec": ["softargmax2d", "bones3d"], "loss": "resunet"}

#: The paper's models (``handlib.models``): name -> the ``module:function`` that builds it, the
#: codecs it works with (a list of names: a combined codec), and the codec and loss a run gets
#: when it names none.
MODELS: dict[str, dict] = {
    "resunet": {"build": "handlib.papers.resunet.models:resunet", **_COORDS_AND_BONES},
    "resunet_fixed_beta": {"build": "handlib.papers.resunet.models:resunet_fixed_beta",
                           **_COORDS_AND_BONES},
    "resunet_argmax": {"build": "handlib.papers.resunet.models:resunet_argmax",
                       "codecs": [["heatmap2d", "bones3d"]], "codec": ["heatmap2d", "bones3d"],
                       "loss": "resunet"},  # trained on heat maps, read by a hard argmax
    "resunet_joints": {"build": "handlib.papers.resunet.models:resunet_joints",
                       **_COORDS_AND_BONES},
    "resunet_no_skips": {"build": "handlib.papers.resunet.models:resunet_no_skips",
                         **_COORDS_AND_BONES},
    "resnet34_regression": {"build": "handlib.papers.resunet.models:resnet34_regression",
                            **_COORDS_AND_BONES},
}

#: The paper's losses (``handlib.losses``): name -> ``module:function``.
LOSSES: dict[str, str] = {
    "resunet": "handlib.papers.resunet.models:resunet_loss",
}
