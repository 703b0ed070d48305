"""Reading an offline W&B run back from its ``run-<id>.wandb`` file, for tests.

The file is a LevelDB-style log (a 7-byte ``:W&B`` header, then 32 KiB blocks of records, each
with a 7-byte header: checksum, length, kind; a record longer than a block's rest is split into
FIRST/MIDDLE/LAST pieces) whose payloads are ``wandb.proto`` ``Record`` messages. wandb no longer
ships a Python reader, so the tests carry this one.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2 as pb

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[pb.Record]:
    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path}: not a W&B run file")
    pos, pieces = HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # block trailer: too short for a record header
            pos += left
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if kind == 0:  # zero padding to the end of the block
            pos += left
            continue
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        pieces = chunk if kind in (FULL, FIRST) else pieces + chunk
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(pieces)
            yield record


@dataclass
class OfflineRun:
    """What a test asks of a run: its header, config, summary, artifacts, logged history keys."""

    run: pb.RunRecord | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history_keys: set[str] = field(default_factory=set)
    artifacts: list[pb.ArtifactRecord] = field(default_factory=list)

    def artifact(self, name_part: str) -> pb.ArtifactRecord:
        return next(a for a in self.artifacts if name_part in a.name)


def read_run(run_folder: Path) -> OfflineRun:
    """The one offline W&B run under ``run_folder/wandb``, replayed from its file."""
    (file,) = Path(run_folder).glob("wandb/offline-run-*/run-*.wandb")
    out = OfflineRun()
    for record in records(file):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out.run = record.run
        elif kind == "config":
            for item in record.config.update:
                out.config[item.key] = json.loads(item.value_json)
        elif kind == "summary":
            for item in record.summary.update:
                key = item.key or "/".join(item.nested_key)
                out.summary[key] = json.loads(item.value_json)
        elif kind == "history":
            out.history_keys |= {
                item.key or "/".join(item.nested_key) for item in record.history.item
            }
        elif kind == "artifact":
            out.artifacts.append(record.artifact)
    return out
