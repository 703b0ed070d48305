"""FER+ labels FER2013's faces by the FERPlus repository's vote rules (``_process_data``), and
soft targets reach the loss as class probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from emotion_lab.app.config import compose_config
from emotion_lab.classifier.module import hard_labels
from emotion_lab.data.datamodule import EmotionDataModule, InMemoryImages
from emotion_lab.data.errors import DataError, DatasetNotFoundError
from emotion_lab.data.sets import BASIC8
from emotion_lab.data.sets.ferplus import HEADER, FerPlus, vote_distribution
from emotion_lab.losses import EmotionLoss

USAGES = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}

# votes: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF.
# Expected results worked out by hand from _process_data: (majority class, probability
# distribution); None = left out. Single votes are dropped first.
CASES: list[tuple[str, str, list[int], str | None, dict[str, float] | None]] = [
    # 1s dropped: neutral 4, anger 3, disgust 2 of 9; no majority (4 <= 4.5); probability:
    # neutral 4 (4 < 6.75), anger 3 (7 >= 6.75): 4/7, 3/7
    ("train", "a", [4, 0, 0, 1, 3, 2, 0, 0, 0, 0], None, {"neutral": 4 / 7, "angry": 3 / 7}),
    ("train", "b", [0, 10, 0, 0, 0, 0, 0, 0, 0, 0], "happy", {"happy": 1.0}),
    # only surprise survives outlier removal
    ("train", "c", [1, 1, 6, 1, 1, 0, 0, 0, 0, 0], "surprise", {"surprise": 1.0}),
    # disgust 2 = fear 2: no majority; both taken in one pass: 1/2, 1/2 (argmax: disgust)
    ("train", "d", [0, 0, 0, 0, 0, 2, 2, 0, 0, 0], None, {"disgust": 0.5, "fear": 0.5}),
    # happiness 3 tied with unknown 3: unknown ends the search and is dropped; 3 <= 3: left out
    ("train", "e", [0, 3, 0, 0, 0, 0, 0, 0, 3, 0], None, None),
    ("train", "f", [0, 0, 0, 0, 0, 0, 0, 5, 0, 0], "contempt", {"contempt": 1.0}),
    # five emotions tied at 2: count 5 > 3, left out in both modes
    ("train", "g", [2, 2, 2, 2, 2, 0, 0, 0, 0, 0], None, None),
    # sadness 7 of 9 (NF's single vote dropped)
    ("train", "h", [0, 0, 0, 7, 0, 0, 0, 0, 2, 1], "sad", {"sad": 1.0}),
    # not a face by majority
    ("train", "i", [0, 0, 0, 0, 0, 0, 0, 0, 0, 10], None, None),
    # FER+ dropped the face: empty Image name
    ("train", "", [0, 0, 0, 0, 0, 0, 0, 0, 0, 10], None, None),
    ("train", "j", [2, 0, 0, 0, 0, 0, 8, 0, 0, 0], "fear", {"fear": 1.0}),
    # val/test always use the majority rule
    ("val", "k", [0, 6, 0, 0, 0, 0, 0, 0, 0, 0], "happy", {"happy": 1.0}),
    ("val", "l", [4, 0, 0, 0, 3, 2, 0, 0, 0, 0], None, None),
    ("test", "m", [0, 0, 5, 3, 0, 0, 0, 0, 0, 0], "surprise", {"surprise": 1.0}),
    ("test", "n", [0, 0, 0, 0, 0, 8, 2, 0, 0, 0], "disgust", {"disgust": 1.0}),
]


def grey(row: int) -> int:
    """Each fer2013.csv row's face is one grey level: an image tells which row it came from."""
    return 10 + 7 * row


def write_release(folder: Path, fer_folder: Path | None = None, extra_votes: str = "") -> None:
    """fer2013new.csv as the repository has it and fer2013.csv (its row order) beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    fer_folder = fer_folder or folder
    fer_folder.mkdir(parents=True, exist_ok=True)
    votes = [",".join(HEADER)]
    faces = ["emotion,pixels,Usage"]
    for i, (split, name, counts, _, _) in enumerate(CASES):
        image = f"fer{i:07d}.png" if name else ""
        votes.append(",".join([USAGES[split], image, *map(str, counts)]))
        faces.append(f"0,{' '.join([str(grey(i))] * 2304)},{USAGES[split]}")
    (folder / "fer2013new.csv").write_text("\n".join(votes) + "\n" + extra_votes)
    (fer_folder / "fer2013.csv").write_text("\n".join(faces) + "\n")


def expected(split: str, mode: str) -> dict[int, tuple[int, np.ndarray]]:
    """grey level → (label, target) of every face the rules keep in ``split``."""
    out = {}
    for i, (s, _, _, majority, dist) in enumerate(CASES):
        if s != split:
            continue
        if mode == "majority" or s != "train":
            if majority is None:
                continue
            dist = {majority: 1.0}
        if dist is None:
            continue
        target = np.zeros(8, dtype=np.float32)
        for name, p in dist.items():
            target[BASIC8.index(name)] = p
        out[grey(i)] = (int(np.argmax(target)), target)
    return out


def check(source: FerPlus, split: str, mode: str) -> None:
    data = source.load(split)  # type: ignore[arg-type]
    want = expected(split, mode)
    greys = [int(img[0, 0, 0]) for img in data.images]
    assert sorted(greys) == sorted(want)
    assert data.images.shape[1:] == (48, 48, 1)
    for g, label in zip(greys, data.labels, strict=True):
        assert int(label) == want[g][0]
    if mode == "probability" and split == "train":
        assert data.targets is not None and data.targets.dtype == np.float32
        for g, target in zip(greys, data.targets, strict=True):
            np.testing.assert_allclose(target, want[g][1], rtol=1e-6)
    else:
        assert data.targets is None


@pytest.mark.parametrize("mode", ["majority", "probability"])
def test_labels_follow_the_repository_rules(tmp_path: Path, mode: str) -> None:
    write_release(tmp_path / "ferplus" / "FERPlus")
    source = FerPlus(tmp_path / "ferplus", label_mode=mode)
    assert source.classes == BASIC8
    for split in USAGES:
        check(source, split, mode)
    info = source.describe()
    assert info["ids"]["happiness"] == "happy" and info["ids"]["NF"] == "(left out)"
    assert info["left_out"]["no Image name (dropped by FER+: not a face)"] == 1
    assert sum(info["left_out"].values()) == len(CASES) - sum(
        len(expected(s, mode)) for s in USAGES
    )
    again = FerPlus(tmp_path / "ferplus", label_mode=mode)  # from the cache this time
    check(again, "train", mode)


def test_vote_distribution_is_the_repositorys_process_data() -> None:
    assert vote_distribution([4, 0, 0, 1, 3, 2, 0, 0, 0, 0], "majority") is None
    assert vote_distribution([0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "probability") is None
    assert vote_distribution([0, 3, 0, 0, 0, 0, 0, 0, 3, 0], "probability") is None
    # unknown alone on top is kept as the distribution (then left out by its argmax)
    assert vote_distribution([0, 2, 0, 0, 0, 0, 0, 0, 6, 0], "probability") == [0.0] * 8 + [1, 0]


def test_fer2013_csv_is_found_under_the_fer2013_folder(tmp_path: Path) -> None:
    write_release(tmp_path / "ferplus", fer_folder=tmp_path / "fer2013" / "fer2013")
    source = FerPlus(tmp_path / "ferplus", fer2013_root=tmp_path / "fer2013")
    assert source.describe()["read"][1] == str(tmp_path / "fer2013" / "fer2013" / "fer2013.csv")
    check(source, "test", "majority")
    with pytest.raises(DatasetNotFoundError, match="not FER2013's pixels"):
        FerPlus(tmp_path / "ferplus", fer2013_root=tmp_path / "elsewhere")


def test_bad_rows_name_their_line_or_are_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "ferplus"
    write_release(folder)
    labels = folder / "fer2013new.csv"
    labels.write_text(labels.read_text().replace("fer0000001.png,0,10", "fer0000001.png,0,x"))
    with pytest.raises(DataError, match=r"fer2013new.csv:3: votes are not integers"):
        FerPlus(folder).load("train")
    data = FerPlus(folder, on_bad_sample="skip").load("train")
    assert data.skipped == 1 and grey(1) not in {int(i[0, 0, 0]) for i in data.images}
    fixed = labels.read_text().replace("fer0000001.png,0,x", "fer0000001.png,0,10")
    labels.write_text(fixed + "Training,fer9.png,0,10,0,0,0,0,0,0,0,0\n")
    with pytest.raises(DataError, match=rf"fer2013new.csv:{len(CASES) + 2}: .* ends before"):
        FerPlus(folder).load("train")


def test_misaligned_usage_is_a_bad_sample(tmp_path: Path) -> None:
    folder = tmp_path / "ferplus"
    write_release(folder)
    text = (folder / "fer2013new.csv").read_text().replace("PublicTest,fer0000011", "Training,x")
    (folder / "fer2013new.csv").write_text(text)
    with pytest.raises(DataError, match=r"fer2013new.csv:13: Usage Training but .*PublicTest"):
        FerPlus(folder).load("train")
    data = FerPlus(folder, on_bad_sample="skip").load("train")
    assert data.skipped == 1


def test_header_and_label_mode_are_checked(tmp_path: Path) -> None:
    folder = tmp_path / "ferplus"
    write_release(folder)
    with pytest.raises(ValueError, match="label_mode must be one of majority, probability"):
        FerPlus(folder, label_mode="multi_target")
    text = (folder / "fer2013new.csv").read_text().replace("Image name", "Image")
    (folder / "fer2013new.csv").write_text(text)
    with pytest.raises(DataError, match=r"fer2013new.csv:1: expected the FER\+ header"):
        FerPlus(folder).load("train")


def test_soft_targets_reach_the_loss_and_metrics_take_their_argmax() -> None:
    targets = torch.tensor([[0.0, 0.75, 0.25], [1.0, 0.0, 0.0]])
    images = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    split = InMemoryImages(images, targets.argmax(1), targets=targets)
    _, batch = split.__getitems__([1, 0])
    assert torch.equal(batch, targets[[1, 0]])
    assert torch.equal(hard_labels(batch), torch.tensor([0, 1]))
    pooled = split.subset([0]).concat(InMemoryImages(images[:1], torch.tensor([2])))
    assert torch.equal(pooled.__getitems__([0, 1])[1], torch.tensor([[0, 0.75, 0.25], [0, 0, 1]]))
    loss = EmotionLoss(num_classes=3, feat_dim=2, beta=1.0)
    logits, emb = torch.randn(2, 3), torch.randn(2, 2)
    soft = loss(logits, emb, targets)
    by_hand = -(targets * logits.log_softmax(1)).sum(1).mean()
    assert torch.allclose(soft["ce"], by_hand)
    hard = loss(logits, emb, targets.argmax(1))
    assert torch.allclose(soft["center"], hard["center"])


def test_config_composes_and_a_soft_training_batch_trains(tmp_path: Path) -> None:
    write_release(tmp_path / "ferplus")
    cfg = compose_config(
        "train",
        [
            "data=ferplus",
            "data.source.label_mode=probability",
            f"paths.data_dir={tmp_path}",
            "model.input_size=32",
            "data.batch_size=4",
        ],
    )
    dm = instantiate(cfg.data)
    assert isinstance(dm, EmotionDataModule) and isinstance(dm.source, FerPlus)
    dm.setup()
    assert dm.classes == BASIC8
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 7, "val": 1, "test": 2}
    images, labels = next(iter(dm.train_dataloader()))
    assert labels.shape == (4, 8) and labels.dtype == torch.float32
    assert torch.allclose(labels.sum(1), torch.ones(4))
    _, val_labels = next(iter(dm.val_dataloader()))
    assert val_labels.dtype == torch.int64
