"""On-disk data set formats; each one is a ``DataSource`` that decodes a split once and caches it."""

from emotion_lab.data.formats.annotations import AnnotationFile
from emotion_lab.data.formats.base import DataSource, ImageSet
from emotion_lab.data.formats.fer2013_csv import FER2013_CLASSES, Fer2013Csv
from emotion_lab.data.formats.folders import ImageFolders

__all__ = [
    "FER2013_CLASSES",
    "AnnotationFile",
    "DataSource",
    "Fer2013Csv",
    "ImageFolders",
    "ImageSet",
]
