"""Multiscale Feature Fusion Network for Monocular Complex Hand Pose Estimation (Zhi Zhan et al. 2023).

So far this package holds the paper's transcription (``paper.yaml``: settings, tables, claims);
its models, losses, study and profiles join it when its chapter is built (see the book's page
"Adding a paper").
"""
