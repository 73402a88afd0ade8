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
