"""Every data set config: composes, names its reader, and says in one line where a missing set
goes; each set's reader (emotion_lab/data/sets/) has its own test file with a release imitation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra.utils import get_class, instantiate
from PIL import Image

from emotion_lab.app.config import CONFIG_DIR, compose_config
from emotion_lab.data.errors import DatasetNotFoundError
from emotion_lab.data.sets import BASIC7, BASIC8, MIKELS8, SADNESS2

# the real sets and the classes their reader gives, in label order
REAL_SETS = {
    "fer2013": BASIC7,
    "ferplus": BASIC8,
    "rafdb": BASIC7,
    "affectnet7": BASIC7,
    "affectnet8": BASIC8,
    "expw": BASIC7,
    "emoset118k": MIKELS8,
    "fi8": MIKELS8,
    "webemo": SADNESS2,
    "caers": BASIC7,
    "face_expression": BASIC7,
}
GENERIC = ("folder", "annotations", "synthetic")


def test_every_data_config_is_known_here() -> None:
    on_disk = {p.stem for p in (CONFIG_DIR / "data").glob("*.yaml")}
    assert on_disk == set(REAL_SETS) | set(GENERIC)


@pytest.mark.parametrize("name", sorted(REAL_SETS))
def test_each_real_set_config_names_a_reader_under_the_data_dir(tmp_path: Path, name: str) -> None:
    cfg = compose_config("train", [f"data={name}", f"paths.data_dir={tmp_path}"])
    assert cfg.data.name == name
    assert str(cfg.data.root).startswith(str(tmp_path))
    target = cfg.data.source._target_
    assert target.startswith("emotion_lab.data.sets."), target
    reader = get_class(target)
    classes = getattr(reader, "class_names", None) or getattr(reader, "CLASSES", None)
    if classes is not None:
        assert tuple(classes) == REAL_SETS[name]


@pytest.mark.parametrize("name", sorted(REAL_SETS))
def test_a_missing_set_is_one_line_saying_where_it_goes(tmp_path: Path, name: str) -> None:
    cfg = compose_config("train", [f"data={name}", f"paths.data_dir={tmp_path}"])
    with pytest.raises(DatasetNotFoundError) as err:
        instantiate(cfg.data.source)()
    message = str(err.value)
    assert "\n" not in message and str(tmp_path) in message


def test_a_missing_set_through_the_command_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "emotion_lab.data", "data=expw", f"paths.data_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert "label/label.lst" in line or "data set folder not found" in line


def test_the_look_command_composes_with_every_experiment() -> None:
    for path in sorted((CONFIG_DIR / "experiment").glob("*.yaml")):
        if path.stem.endswith("_common"):
            continue
        cfg = compose_config("data_look", [f"experiment={path.stem}"])
        assert cfg.look.per_class >= 1 and cfg.data.name


def test_a_source_option_another_set_needs_is_one_line_naming_the_key(tmp_path: Path) -> None:
    """``experiment=smoke`` sets the built-in set's ``data.source.n``: on a folder it is no option."""
    from emotion_lab.errors import ConfigError

    for split in ("train", "test"):
        for label in ("a", "b"):
            folder = tmp_path / "tree" / split / label
            folder.mkdir(parents=True)
            for i in range(3):
                Image.new("L", (8, 8), 40 * i).save(folder / f"{i}.png")
    cfg = compose_config(
        "train", ["experiment=smoke", "data=folder", f"data.root={tmp_path / 'tree'}"]
    )
    with pytest.raises(Exception) as err:
        instantiate(cfg.data)
    cause = err.value
    while cause.__cause__ is not None and not isinstance(cause, ConfigError):
        cause = cause.__cause__
    assert isinstance(cause, ConfigError)
    assert str(cause).startswith("data.source.n: ImageFolders takes no option 'n'")
