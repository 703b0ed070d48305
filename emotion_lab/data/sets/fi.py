"""FI, the Flickr & Instagram set (You, Luo, Jin & Yang, AAAI 2016), as its authors hand it out.

Layout: one folder per Mikels emotion, the folder name being the label; the files inside are
named ``<emotion>_<number>.jpg`` (the number's zero padding is not confirmed and not relied on:
every image file below a folder is read)::

    emotion_dataset/
        amusement/  anger/  awe/  contentment/  disgust/  excitement/  fear/  sadness/

Sources: the paper (23,308 images, 8 emotions, at least 3 agreeing AMT votes); public loaders
that take the label from the folder / file-name prefix and keep the archive's top folder
``emotion_dataset/`` (one public loader sets ``DATA_FI_PATH = data/emotion_dataset``). The
archive top folder and file numbering are not confirmed from the authors' own text; the top
folder may be kept or dropped (the release is found up to two levels below ``<data_dir>/fi8``).

Ids: the folder names, which are our MIKELS8 class names. Hidden folders are ignored; any other
folder, or one of the eight missing, is a one-line error.

Split: none is shipped. The fixed, stratified, seeded split is 80 / 5 / 15 % train / val /
test: the random split of You et al. that later FI papers (e.g. WSCNet, Yang et al., CVPR 2018)
reuse; the ratios are widely quoted but not confirmed here from a copy of either paper. S000's
paper reports 3,407 test images (14.6 % of 23,308), consistent with it. The split list is
written beside the cache and its digest shown by ``describe()``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from emotion_lab.data.errors import DataError
from emotion_lab.data.formats.cache import CACHE_DIRNAME
from emotion_lab.data.formats.folders import list_images
from emotion_lab.data.formats.release import Item, OfficialRelease, Record
from emotion_lab.data.sets import MIKELS8
from emotion_lab.data.splits import FixedSplit


class Fi8(OfficialRelease):
    name = "fi8"
    class_names = MIKELS8
    ids = {emotion: emotion for emotion in MIKELS8}
    markers = MIKELS8
    hint = (
        "FI is given out by its authors (You et al., AAAI 2016; the 'emotion_dataset' archive); "
        "unpack it into {dir} so that {dir}/emotion_dataset/amusement/ ... sadness/ exist"
    )
    fixed_split = FixedSplit({"train": 0.80, "val": 0.05, "test": 0.15}, seed=0)

    def items(self) -> Iterable[Item]:
        folders: dict[str, Path] = {}
        with os.scandir(self.release) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            if entry.name.startswith(".") or entry.name == CACHE_DIRNAME or not entry.is_dir():
                continue
            if entry.name.casefold() not in self.ids:
                raise DataError(
                    f"{self.release}: unknown folder {entry.name!r}; FI has one folder per "
                    f"emotion ({', '.join(MIKELS8)})"
                )
            if entry.name.casefold() in folders:
                raise DataError(f"{self.release}: two {entry.name.casefold()!r} folders; keep one")
            folders[entry.name.casefold()] = Path(entry.path)
        missing = [e for e in MIKELS8 if e not in folders]
        if missing:
            raise DataError(f"{self.release}: emotion folder(s) missing: {', '.join(missing)}")
        for emotion in MIKELS8:
            folder = folders[emotion]
            for image in list_images(folder):
                yield Record(image.path, folder.name, str(image.path))
