"""Multiscale Feature Fusion Network for Monocular Complex Hand Pose Estimation (Zhi Zhan et al. 2023).

So far this package holds the paper's transcription (``paper.yaml``: settings, tables, claims)
and its models (``models.py``: MS-FF on the shared InterNet family, ``handlib.models.internet``,
and its module ablations); its study and profiles join them when its chapter is built (see the
book's page "Adding a paper").
"""
