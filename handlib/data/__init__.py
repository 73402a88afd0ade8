"""Datasets: the synthetic hand engine, real-dataset loaders, transforms and target codecs."""
