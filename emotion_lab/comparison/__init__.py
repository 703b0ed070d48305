"""Runs compared: the table with intervals and paired tests, its statistics, and the Hydra
callback that ends a multirun with it."""
