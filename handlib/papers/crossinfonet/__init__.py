"""CrossInfoNet: Multi-Task Information Sharing Based Hand Pose Estimation (Kuo Du et al. 2019).

So far this package holds the paper's transcription (``paper.yaml``: settings, tables, claims);
its models, losses, study and profiles join it when its chapter is built (see the book's page
"Adding a paper").
"""
