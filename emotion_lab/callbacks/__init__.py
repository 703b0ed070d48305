"""Cross-cutting work around a run, as Lightning callbacks."""

from emotion_lab.callbacks.analysis import TestAnalysis
from emotion_lab.callbacks.early_stopping import BestWeightsEarlyStopping

__all__ = ["BestWeightsEarlyStopping", "TestAnalysis"]
