"""A generated stand-in for FER2013, so the whole pipeline can run where no data set can be fetched.

Faces are drawn from facial geometry driven by FACS action units (:mod:`.facs`): identity, pose,
lighting, blur, noise and occlusion vary per image (:mod:`.difficulty` sets how much), and a share
of labels is flipped (:mod:`.labels`), so a model has to learn expression cues rather than
memorise a template. :mod:`.render` paints the faces, :mod:`.writers` stores them as FER2013's CSV
or as image folders, :mod:`.source` is the ``DataSource`` the data configs name, :mod:`.grid` the
sample picture and :mod:`.cli` the command line (``python -m emotion_lab.data.synthetic_faces``).
"""

from emotion_lab.data.synthetic_faces.cli import main
from emotion_lab.data.synthetic_faces.difficulty import Difficulty, make_difficulty
from emotion_lab.data.synthetic_faces.facs import ACTION_UNITS, PROTOTYPES
from emotion_lab.data.synthetic_faces.grid import save_sample_grid
from emotion_lab.data.synthetic_faces.labels import (
    CLASSES,
    FER2013_CLASS_COUNTS,
    class_quota,
    sample_labels,
    split_assignment,
)
from emotion_lab.data.synthetic_faces.render import IMAGE_SIZE, generate_faces, render_faces
from emotion_lab.data.synthetic_faces.source import SyntheticFer2013
from emotion_lab.data.synthetic_faces.writers import (
    GENERATOR_VERSION,
    csv_filename,
    export_image_folders,
    write_fer2013_csv,
)

__all__ = [
    "ACTION_UNITS",
    "CLASSES",
    "FER2013_CLASS_COUNTS",
    "GENERATOR_VERSION",
    "IMAGE_SIZE",
    "PROTOTYPES",
    "Difficulty",
    "SyntheticFer2013",
    "class_quota",
    "csv_filename",
    "export_image_folders",
    "generate_faces",
    "main",
    "make_difficulty",
    "render_faces",
    "sample_labels",
    "save_sample_grid",
    "split_assignment",
    "write_fer2013_csv",
]
