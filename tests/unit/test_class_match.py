"""A checkpoint scored on a data set with other classes: the difference is named in one line
before anything is decoded, and an ordered subset is scored with the checkpoint's indices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from emotion_lab.app.config import compose_config
from emotion_lab.classifier.checkpoint import stored_classes as checkpoint_classes
from emotion_lab.data.class_match import label_map, match_classes
from emotion_lab.data.errors import DataError
from emotion_lab.data.formats.folders import ImageFolders
from emotion_lab.errors import ConfigError
from emotion_lab.evaluate import load_run_config
from emotion_lab.run.builders import build_datamodule
from tests.unit.test_predict import CLASSES, _write_checkpoint


def tree(root: Path, classes: list[str], per_class: int = 4) -> Path:
    """train/ and test/ with ``per_class`` images per class; grey level = index in ``classes``."""
    for split in ("train", "test"):
        for i, name in enumerate(classes):
            for j in range(per_class):
                path = root / split / name / f"{j}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.full((8, 8), 30 * i + 10, np.uint8)).save(path)
    return root


def test_equal_lists_match_and_an_ordered_subset_is_accepted() -> None:
    assert match_classes(CLASSES, CLASSES, "x") is True
    assert match_classes(CLASSES, ("angry", "happy", "sad"), "x") is False
    assert label_map(CLASSES, ("angry", "happy", "sad")) == [0, 3, 4]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (("angry", "calm", "sad"), "has class(es) calm that the checkpoint was not trained on"),
        (("sad", "happy"), "the checkpoint's classes in another order (data: sad, happy;"),
        (("angry", "angry"), "names a class twice"),
    ],
)
def test_other_classes_are_named_in_one_line(data: tuple[str, ...], says: str) -> None:
    with pytest.raises(ConfigError) as err:
        match_classes(CLASSES, data, "ckpt_path=m.ckpt on data=folder")
    assert says in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("ckpt_path=m.ckpt on data=folder: ")


def _evaluate_config(ckpt: Path, root: Path) -> tuple:
    cfg = compose_config(
        "evaluate", [f"ckpt_path={ckpt}", "data=folder", f"data.root={root}", "logger=csv"]
    )
    return load_run_config(cfg)


def test_evaluate_scores_a_subset_with_the_checkpoints_indices(tmp_path: Path) -> None:
    ckpt = tmp_path / "best.ckpt"
    _write_checkpoint(ckpt)
    root = tree(tmp_path / "three", ["angry", "happy", "sad"])
    run_cfg, checkpoint = _evaluate_config(ckpt, root)
    # data.image_size interpolates the checkpoint's model, which evaluate's own config lacks
    assert OmegaConf.select(run_cfg, "data.image_size") == run_cfg.model.input_size
    dm = build_datamodule(run_cfg, classes=tuple(checkpoint["emotion_lab"]["classes"]))
    assert dm.classes == CLASSES and dm.num_classes == 7
    assert sorted(set(dm.splits["test"].labels.tolist())) == [0, 3, 4]
    grey = dm.splits["test"].images[:, 0, 0, 0].float()  # encodes the tree's own index
    own = {0: 0, 3: 1, 4: 2}
    for level, label in zip(grey.tolist(), dm.splits["test"].labels.tolist(), strict=True):
        assert abs(level - (30 * own[label] + 10)) <= 2


def test_evaluate_names_extra_classes_before_decoding(tmp_path: Path, monkeypatch) -> None:
    ckpt = tmp_path / "best.ckpt"
    _write_checkpoint(ckpt)
    root = tree(tmp_path / "calm", ["angry", "calm", "sad"])
    run_cfg, checkpoint = _evaluate_config(ckpt, root)

    def no_decoding(self, split):  # type: ignore[no-untyped-def]
        raise AssertionError("decoded before the classes were compared")

    monkeypatch.setattr(ImageFolders, "load", no_decoding)
    with pytest.raises(ConfigError, match=rf"ckpt_path={ckpt} on data=folder: .* calm"):
        build_datamodule(
            run_cfg, classes=tuple(checkpoint["emotion_lab"]["classes"]), what=f"ckpt_path={ckpt}"
        )


def test_resuming_on_other_classes_is_refused(tmp_path: Path) -> None:
    ckpt = tmp_path / "last.ckpt"
    _write_checkpoint(ckpt)
    assert checkpoint_classes(str(ckpt)) == CLASSES
    torch.save({"state_dict": {}}, tmp_path / "plain.ckpt")
    assert checkpoint_classes(str(tmp_path / "plain.ckpt")) is None
    root = tree(tmp_path / "three", ["angry", "happy", "sad"])
    cfg = compose_config("train", ["data=folder", f"data.root={root}"])
    with pytest.raises(ConfigError, match="3 of the checkpoint's 7 classes .* resuming needs"):
        build_datamodule(cfg, classes=CLASSES, allow_subset=False)


def test_an_image_linking_to_itself_is_a_bad_sample(tmp_path: Path) -> None:
    root = tree(tmp_path / "d", ["a", "b"])
    loop = root / "train" / "a" / "loop.png"
    loop.symlink_to("loop.png")
    with pytest.raises(DataError) as err:
        ImageFolders(root, 8).load("train")
    assert (
        str(err.value) == f"{loop}: the link loops (it points to itself, or round a cycle of links)"
    )
    data = ImageFolders(root, 8, on_bad_sample="skip").load("train")
    assert data.skipped == 1 and len(data.labels) == 8
    dm = instantiate(
        compose_config(
            "train", ["data=folder", f"data.root={root}", "data.on_bad_sample=skip"]
        ).data
    )
    dm.setup()
    assert dm.skipped == {"train": 1}


def test_predict_names_a_self_link_instead_of_dropping_it(tmp_path: Path) -> None:
    from emotion_lab.predict import input_files

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "loop.png").symlink_to("loop.png")
    assert [p.name for p in input_files(str(tmp_path / "*.png"))] == ["loop.png", "ok.png"]
    assert [p.name for p in input_files(str(tmp_path))] == ["loop.png", "ok.png"]
    with pytest.raises(DataError, match=r"input=.*loop.png': the link loops"):
        input_files(str(tmp_path / "loop.png"))
