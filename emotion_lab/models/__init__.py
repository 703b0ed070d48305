"""Every architecture of emotion-lab, built by name through :func:`create_model`.

Importing this package imports each model module so that it registers itself.
"""

from . import (
    cnn4,
    gram_efficientnet,
    resemotenet,
    timm_model,
    vire_alexnet,
    vire_cnn,
    vire_densenet,
)
from .base import EmotionNet
from .init import INITIALIZERS, apply_initializer
from .registry import create_model, list_models, register_model

__all__ = [
    "INITIALIZERS",
    "EmotionNet",
    "apply_initializer",
    "cnn4",
    "create_model",
    "gram_efficientnet",
    "list_models",
    "register_model",
    "resemotenet",
    "timm_model",
    "vire_alexnet",
    "vire_cnn",
    "vire_densenet",
]
