"""Data: on-disk formats → uint8 cache → in-memory batches (see datamodule.py)."""
