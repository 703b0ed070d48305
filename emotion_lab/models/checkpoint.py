"""Reading weight files from disk, for machines where no model hub can be reached.

Weight files come in many wrappings (a bare state_dict, one nested under ``state_dict`` or
``model_state_dict``, a DataParallel ``module.`` prefix, a ``.safetensors`` file). Every loader of
emotion-lab goes through :func:`read_state_dict` so they all accept the same files and fail with
the same kind of one-line message naming the file and the config key.

Every file is read as data (:func:`load_data`: ``torch.load(weights_only=True)``): tensors,
numbers, text, lists and dicts. A file that needs more (a pickled Python object, whose loading
could run any code) is refused in one line naming the key and the file; nothing in it is called.
Lightning's own checkpoints (loops, callbacks, optimizer and scheduler states) are such data.
"""

from __future__ import annotations

import logging
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emotion_lab.errors import CheckpointError, MissingFileError

log = logging.getLogger(__name__)

# Wrappers seen in practice, tried in this order.
_NESTING_KEYS = ("state_dict", "model_state_dict", "model", "state_dict_ema")
# Prefixes added by DataParallel/DDP, by wrappers such as ours (``backbone.``) or a LightningModule
# (``model.``); stripped only when every key carries them.
_WRAPPER_PREFIXES = ("module.", "model.", "backbone.")


def read_state_dict(path: str | Path, key: str) -> dict[str, torch.Tensor]:
    """Load the tensors of a weight file; ``key`` is the parameter or config key the path came
    from, which the errors start with (the config layer may put a section in front).

    Only tensor data is read (``weights_only``), so a file from an untrusted source cannot run code.
    """
    file = existing_file(path, key)
    if file.suffix != ".safetensors":
        obj: object = load_data(file, key, parameter=key, unreadable="cannot read weights")
        return _state_or_error(obj, path, key)
    try:
        from safetensors.torch import load_file

        obj = load_file(str(file), device="cpu")
    except Exception as exc:  # torch/safetensors raise many types for a corrupt or foreign file
        raise CheckpointError(
            f"{key}={str(path)!r}: cannot read weights ({_reason(exc)})", parameter=key
        ) from exc
    return _state_or_error(obj, path, key)


def _state_or_error(obj: object, path: str | Path, key: str) -> dict[str, torch.Tensor]:
    state = _unwrap(obj)
    if state is None:
        raise CheckpointError(
            f"{key}={str(path)!r}: file holds no state_dict of tensors", parameter=key
        )
    return state


def read_checkpoint(path: str | Path, key: str) -> dict[str, Any]:
    """Load a Lightning checkpoint (``last.ckpt``, ``best.ckpt``) written by emotion-lab.

    A text file, a truncated download or a foreign pickle fails here with one line naming
    ``key`` and the path, instead of an ``UnpicklingError`` or ``PytorchStreamReader`` traceback
    from inside Lightning. The whole file is read as data (optimizer state and loops included):
    one holding pickled Python objects is refused, never unpickled (:func:`load_data`).
    """
    obj = load_data(existing_file(path, key), key)
    if not isinstance(obj, Mapping) or not isinstance(obj.get("state_dict"), Mapping):
        raise CheckpointError(f"{key}={str(path)!r}: not a Lightning checkpoint (no state_dict)")
    return dict(obj)


def load_data(
    path: str | Path,
    key: str,
    *,
    mmap: bool = False,
    parameter: str | None = None,
    unreadable: str = "not a readable checkpoint",
) -> Any:
    """``torch.load`` of ``path`` as data only (``weights_only=True``), for every reader of a
    checkpoint; ``mmap`` leaves the tensors on disk until used (a reader of metadata).

    A file holding pickled Python objects (a class, a function: loading one could run any code)
    is one line naming ``key``, the file and the first such object, and nothing in it runs; an
    unreadable file is one line saying ``unreadable``. ``parameter``: the error's parameter.
    """
    try:
        mmap = mmap and zipfile.is_zipfile(path)  # torch maps only its zip format
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower() or not _looks_pickled(path):
            raise CheckpointError(
                f"{key}={str(path)!r}: {unreadable} ({_reason(exc)})", parameter=parameter
            ) from None
        raise CheckpointError(
            f"{key}={str(path)!r}: holds pickled Python objects ({_python_object(exc)}), which "
            "are not loaded: emotion-lab reads checkpoints as data only (tensors, numbers, text)",
            parameter=parameter,
        ) from None
    except Exception as exc:  # zip, pickle and storage errors all mean "not a checkpoint"
        raise CheckpointError(
            f"{key}={str(path)!r}: {unreadable} ({_reason(exc)})", parameter=parameter
        ) from exc


def _looks_pickled(path: str | Path) -> bool:
    """Whether ``path`` is a torch zip or begins like a pickle (protocol 2+): a text or other
    file refused by the weights-only reader is unreadable, not a file of Python objects."""
    try:
        if zipfile.is_zipfile(path):
            return True
        with open(path, "rb") as handle:
            return handle.read(1) == b"\x80"
    except OSError:
        return False


def _python_object(exc: BaseException) -> str:
    """What torch's weights-only reader refused: ``builtins.exec`` or ``pickle opcode 149``."""
    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return found.group(1)
    operand = re.search(r"Unsupported operand (\d+)", text)
    return f"pickle opcode {operand.group(1)}" if operand else "not tensors or plain values"


def existing_file(path: str | Path, key: str) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise MissingFileError(f"{key}={str(path)!r}: no such checkpoint file", parameter=key)
    return file


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _unwrap(obj: object) -> dict[str, torch.Tensor] | None:
    while isinstance(obj, Mapping):
        nested = next((obj[k] for k in _NESTING_KEYS if isinstance(obj.get(k), Mapping)), None)
        if nested is None:
            break
        obj = nested
    if not isinstance(obj, Mapping) or not obj:
        return None
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        return None
    return strip_wrapper_prefixes(state)


def strip_wrapper_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove ``module.``-style prefixes that every key shares (repeatedly, e.g. ``module.model.``)."""
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in state):
                state = {k[len(prefix) :]: v for k, v in state.items()}
                changed = True
    return state


def first_mismatch(model: nn.Module, state: Mapping[str, torch.Tensor]) -> str | None:
    """Describe the first key that would break a strict load, or None when the load is exact."""
    expected = model.state_dict()
    for name, tensor in expected.items():
        if name not in state:
            return f"missing key {name!r}"
        if tuple(state[name].shape) != tuple(tensor.shape):
            return (
                f"key {name!r} has shape {tuple(state[name].shape)}, "
                f"the model expects {tuple(tensor.shape)}"
            )
    for name in state:
        if name not in expected:
            return f"unexpected key {name!r}"
    return None


def load_strict(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    source: str,
    parameter: str | None = None,
) -> None:
    """Strict load with a one-line error naming ``source`` and the first offending key;
    ``parameter``: the parameter ``source`` starts with, when a constructor loads the file."""
    problem = first_mismatch(model, state)
    if problem is not None:
        raise CheckpointError(
            f"{source}: does not match {type(model).__name__}: {problem}", parameter=parameter
        )
    model.load_state_dict(state, strict=True)


def load_backbone_weights(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source: str,
    parameter: str | None = None,
    head_prefixes: tuple[str, ...],
    first_convs: tuple[str, ...],
) -> list[str]:
    """Load an ImageNet-style checkpoint into a timm model whose head or input channels differ.

    A checkpoint trained for 1000 classes cannot fill a 7-class head, so head keys that do not fit
    are dropped (the fresh head keeps its initialisation). A 3-channel stem is adapted to the
    model's input channels the way timm does for its own pretrained weights. Every other key must
    match exactly. Returns the dropped keys.
    """
    from timm.models import adapt_input_conv

    expected = model.state_dict()
    state = dict(state)
    dropped: list[str] = []
    for name in list(state):
        in_head = any(name == p or name.startswith(p + ".") for p in head_prefixes)
        if in_head and (name not in expected or expected[name].shape != state[name].shape):
            dropped.append(name)
            del state[name]
    for conv in first_convs:
        weight_key = conv + ".weight"
        if weight_key in state and weight_key in expected:
            want, have = expected[weight_key], state[weight_key]
            if want.dim() == 4 and have.dim() == 4 and want.shape[1] != have.shape[1]:
                state[weight_key] = adapt_input_conv(int(want.shape[1]), have)
    missing = [k for k in expected if k not in state]
    unfilled_head = [
        k for k in missing if any(k == p or k.startswith(p + ".") for p in head_prefixes)
    ]
    state.update({k: expected[k] for k in unfilled_head})
    load_strict(model, state, source, parameter)
    if dropped:
        log.info("%s: head keys not loaded (shape differs from this model): %s", source, dropped)
    return dropped
