"""handlib: models, data, metrics and training for the handbook replication book."""
__version__ = "0.1.0"
