"""Losses: cross-entropy and the contrastive-center family."""

from emotion_lab.losses.contrastive_center import CenterLossTerms, ContrastiveCenterLoss
from emotion_lab.losses.objective import EmotionLoss, balanced_class_weights

__all__ = ["CenterLossTerms", "ContrastiveCenterLoss", "EmotionLoss", "balanced_class_weights"]
