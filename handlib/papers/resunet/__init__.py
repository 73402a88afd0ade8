"""Using Deep Learning-based Hand Pose Estimation for handling occlusion (Roumaissa Bekiri et al. None).

So far this package holds the paper's transcription (``paper.yaml``: settings, tables, claims);
its models, losses, study and profiles join it when its chapter is built (see the book's page
"Adding a paper").
"""
