"""A generated stand-in for FER2013, so the whole pipeline can run where no data set can be fetched.

Faces are drawn from facial geometry driven by FACS action units (AUs): every emotion has a
prototype set of AUs, fired at random intensities, plus weak random activations of the others so
that neighbouring expressions overlap the way real ones do (fear/surprise, anger/disgust,
sadness/neutral). Identity, pose, lighting, blur, noise and occlusion vary per image, and a share of
labels is flipped, so a model has to learn expression cues rather than memorise a template.

Rendering evaluates implicit shapes (approximate signed distances) on the 48×48 grid for a whole
chunk of images at once, with one-pixel analytic anti-aliasing; there is no per-image Python loop.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from emotion_lab.data.formats.base import ImageSet, OnBadSample, Split
from emotion_lab.data.formats.cache import progress as progress_bar

CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER2013_CLASS_COUNTS: dict[str, int] = {
    "angry": 4953,
    "disgust": 547,
    "fear": 5121,
    "happy": 8989,
    "sad": 6077,
    "surprise": 4002,
    "neutral": 6198,
}
IMAGE_SIZE = 48
USAGE_BY_SPLIT: dict[str, str] = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
SPLIT_BY_USAGE: dict[str, str] = {usage: split for split, usage in USAGE_BY_SPLIT.items()}

# Action units the renderer understands, and each emotion's FACS prototype: (always, sometimes).
ACTION_UNITS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 15, 16, 20, 23, 26)
PROTOTYPES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "angry": ((4, 5, 7, 23), ()),
    "disgust": ((9, 15, 16), (10,)),
    "fear": ((1, 2, 4, 5, 20, 26), ()),
    "happy": ((6, 12), (26,)),
    "sad": ((1, 4, 15), ()),
    "surprise": ((1, 2, 5, 26), ()),
    "neutral": ((), ()),
}
_OPTIONAL_AU_PROB = 0.5
# Bump whenever a change to this module changes the images or labels a seed produces: it is part
# of the cached CSV's name.
GENERATOR_VERSION = 2
# Images are rendered in fixed-size chunks: small enough to stay in cache, and fixed so that the
# noise drawn per chunk (and hence the output) depends on the seed alone.
_CHUNK = 500
# Generated files are shared data, not private temp files (mkstemp/mkdtemp create 0600/0700).
_FILE_MODE = 0o644
_DIR_MODE = 0o755


@dataclass(frozen=True)
class Difficulty:
    """The knobs that make the benchmark hard.

    The defaults were tuned so that a small CNN (conv32-conv64-dense, Adam 1e-3, batch 128)
    reaches about two thirds test accuracy after 5 epochs: far above the 25 % majority class,
    far below the ~95 % that the flipped labels leave reachable.
    """

    intensity: tuple[float, float] = (0.45, 1.0)  # strength range of an emotion's prototype AUs
    leak_prob: float = 0.3  # chance that each non-prototype AU fires weakly
    leak_max: float = 0.3  # upper bound of such a weak activation
    rotation_deg: float = 8.0  # in-plane head rotation, ± degrees
    scale: tuple[float, float] = (0.92, 1.08)  # face size relative to the canonical crop
    shift_px: float = 2.0  # translation, ± pixels on each axis
    yaw: float = 0.25  # fake out-of-plane turn: features slide and one side compresses
    noise: tuple[float, float] = (0.005, 0.035)  # Gaussian pixel-noise σ range (intensity 0-1)
    blur: float = 0.6  # largest mix towards a σ≈1 px blurred copy
    occlusion: float = 0.08  # probability of a hand, sunglasses, patch or edge occluder
    lighting: float = 0.4  # largest strength of the linear lighting gradient

    def __post_init__(self) -> None:
        for name in ("intensity", "scale", "noise"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or len(value) != 2:
                raise ValueError(f"{name} must be a (low, high) pair, got {value!r}")
            lo, hi = value
            if not 0.0 <= lo <= hi:
                raise ValueError(f"{name} must be a range 0 <= low <= high, got {(lo, hi)}")
        for name in ("leak_prob", "leak_max", "occlusion", "blur"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.intensity[1] > 1.0:
            raise ValueError(f"intensity must lie within [0, 1], got {self.intensity}")
        for name in ("rotation_deg", "shift_px", "yaw", "lighting"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def make_difficulty(**difficulty: object) -> Difficulty:
    """Build a ``Difficulty`` from keyword overrides, naming any key it does not know."""
    known = {f.name for f in fields(Difficulty)}
    for key in difficulty:
        if key not in known:
            raise ValueError(f"unknown difficulty key {key!r}; known: {', '.join(sorted(known))}")
    # Ranges may come from a config as lists (or omegaconf ListConfig): freeze them to tuples.
    values = {
        k: tuple(v) if isinstance(v, Sequence) and not isinstance(v, str) else v
        for k, v in difficulty.items()
    }
    return Difficulty(**values)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------


def class_quota(n: int) -> np.ndarray:
    """Images per class in FER2013's proportions, by largest remainder so they sum to ``n``."""
    counts = np.array([FER2013_CLASS_COUNTS[c] for c in CLASSES], dtype=np.float64)
    exact = counts / counts.sum() * n
    quota = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[: n - int(quota.sum())]] += 1
    return quota


def _flip_labels(labels: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Move exactly round(share·n) labels to a different, uniformly chosen class."""
    noisy = labels.copy()
    k = int(round(share * len(labels)))
    if k:
        idx = rng.choice(len(labels), size=k, replace=False)
        noisy[idx] = (labels[idx] + rng.integers(1, len(CLASSES), size=k)) % len(CLASSES)
    return noisy


def _sample_action_units(
    labels: np.ndarray, rng: np.random.Generator, diff: Difficulty
) -> dict[int, np.ndarray]:
    """AU intensities in [0, 1]: prototype AUs around one per-image strength, others leak weakly."""
    n = len(labels)
    n_au = len(ACTION_UNITS)
    column = {au: i for i, au in enumerate(ACTION_UNITS)}
    members = np.zeros((len(CLASSES), n_au), dtype=bool)
    optional = np.zeros((len(CLASSES), n_au), dtype=bool)
    for c, name in enumerate(CLASSES):
        always, sometimes = PROTOTYPES[name]
        members[c, [column[a] for a in always]] = True
        optional[c, [column[a] for a in sometimes]] = True
    strength = rng.uniform(*diff.intensity, size=(n, 1))
    jitter = rng.uniform(0.75, 1.15, size=(n, n_au))
    proto = np.clip(strength * jitter, 0.0, 1.0)
    fires_optional = optional[labels] & (rng.random((n, n_au)) < _OPTIONAL_AU_PROB)
    leak = np.where(
        rng.random((n, n_au)) < diff.leak_prob, rng.uniform(0, diff.leak_max, (n, n_au)), 0.0
    )
    active = members[labels] | fires_optional
    au = np.where(active, proto, leak).astype(np.float32)
    return {a: au[:, i] for a, i in column.items()}


# ---------------------------------------------------------------------------------------------
# Geometry: identity, pose and expression turned into per-image shape parameters
# ---------------------------------------------------------------------------------------------


def _sample_faces(
    labels: np.ndarray, rng: np.random.Generator, diff: Difficulty
) -> dict[str, np.ndarray]:
    """Per-image scalars (float32, shape n) that fully describe each face; AUs move the features.

    Units are pixels of the canonical 48×48 crop, y pointing up, origin at the image centre.
    """
    n = len(labels)
    au = _sample_action_units(labels, rng, diff)

    def u(lo: float, hi: float) -> np.ndarray:
        return rng.uniform(lo, hi, n)

    p: dict[str, np.ndarray] = {}
    # Pose.
    p["rot"] = np.deg2rad(u(-diff.rotation_deg, diff.rotation_deg))
    p["scale"] = u(*diff.scale)
    p["tx"] = u(-diff.shift_px, diff.shift_px)
    p["ty"] = u(-diff.shift_px, diff.shift_px)
    yaw = u(-diff.yaw, diff.yaw)
    p["yaw_shift"] = 4.0 * yaw
    p["yaw_squash"] = 0.22 * yaw
    # Head, hair, neck, ears.
    p["head_a"] = u(16.5, 19.5)
    p["head_b_up"] = u(21.0, 25.0)
    jaw = 2.8 * au[26] + 0.6 * au[16]
    p["head_b_low"] = u(19.0, 22.0) + jaw
    p["taper"] = u(0.08, 0.2)
    bald = rng.random(n) < 0.08
    p["hairline"] = np.where(bald, 40.0, u(10.5, 18.5))
    p["hair_curve"] = u(0.0, 7.0)
    p["hair_volume"] = np.where(bald, -2.0, u(0.5, 4.0))
    p["hair_side"] = np.where(rng.random(n) < 0.35, u(-30.0, -8.0), u(-2.0, 8.0))
    p["hair_part"] = u(-0.25, 0.25)  # slope of a side-swept fringe
    p["fringe_amp"] = u(0.0, 1.2)  # ragged fringe: amplitude, frequency and phase of a ripple
    p["fringe_freq"] = u(0.3, 0.9)
    p["fringe_phase"] = u(0.0, 2 * np.pi)
    p["neck_w"] = u(8.5, 12.0)
    # Tones (0 = black, 1 = white) before lighting.
    skin = u(0.32, 0.85)
    p["skin"] = skin
    p["hair"] = np.clip(skin * u(0.05, 0.8), 0.02, None)
    p["bg"] = u(0.0, 1.0)
    p["bg_grad"] = u(-0.25, 0.25)
    p["bg_angle"] = u(0.0, 2 * np.pi)
    p["face_shade"] = u(0.15, 0.4)
    p["brow_tone"] = np.minimum(p["hair"], skin * u(0.25, 0.55))
    p["sclera"] = np.clip(0.35 + 0.6 * skin + u(-0.05, 0.1), 0.0, 0.95)
    p["iris"] = u(0.05, 0.4) * skin + 0.02
    p["lip_tone"] = skin * u(0.55, 0.8)
    p["teeth"] = np.clip(skin + u(0.05, 0.25), 0.0, 0.95)

    # Eyes. Lids: AU5 lifts the upper lid, AU7 tightens both, AU6 pushes the lower lid up from
    # below, AU4 and AU9 lower the brows onto the upper lid.
    p["eye_x"] = u(7.0, 8.6)
    p["eye_y"] = u(3.5, 6.0)
    p["eye_w"] = u(3.5, 4.3)
    up = u(1.35, 1.9) + 1.7 * au[5] - 0.8 * au[7] - 0.35 * au[6] - 0.45 * au[4] - 0.3 * au[9]
    low = u(0.95, 1.35) + 0.35 * au[5] - 1.0 * au[6] - 0.7 * au[7] - 0.3 * au[9]
    p["lid_up"] = np.maximum(up, 0.35)
    p["lid_low"] = np.maximum(low, 0.55 - p["lid_up"])
    p["eye_tilt"] = u(-0.2, 0.5)
    p["iris_r"] = u(1.55, 1.95)
    p["gaze_x"] = u(-0.6, 0.6)
    p["gaze_y"] = u(-0.3, 0.3)

    # Brows. AU1 lifts the inner ends, AU2 the outer ends and the arch, AU4 lowers and knits the
    # inner ends (less so while AU1 pulls against it), AU9 drags the inner ends down a little.
    brow_h = p["eye_y"] + u(3.6, 5.0)
    knit = au[4] * (1.0 - 0.6 * au[1])
    p["brow_in_y"] = brow_h + 3.2 * au[1] + 0.7 * au[2] - 2.6 * knit - 1.0 * au[9]
    p["brow_out_y"] = brow_h + u(-0.3, 0.6) + 2.8 * au[2] + 0.6 * au[1] - 0.9 * au[4]
    p["brow_in_x"] = u(1.9, 3.0) - 1.2 * au[4]
    p["brow_out_x"] = p["eye_x"] + p["eye_w"] + u(0.3, 1.6)
    p["brow_arch"] = u(0.3, 1.3) + 1.0 * au[2] - 0.5 * au[1] * (1.0 - au[2])
    p["brow_th"] = u(1.0, 1.9)
    p["brow_tilt"] = u(-0.4, 0.4)  # asymmetry between the two brows

    # Nose. AU9 wrinkles the bridge and lifts/widens the wings; AU10 lifts them a little.
    p["nose_y"] = u(-6.5, -4.5) + 1.1 * au[9] + 0.5 * au[10]
    p["nose_w"] = u(2.4, 3.2) + 0.6 * au[9]
    p["nose_shade"] = u(0.04, 0.14)

    # Mouth. AU12 pulls the corners up and out, AU15 pulls them down, AU20 stretches sideways,
    # AU23 narrows and thins the lips, AU26 drops the jaw, AU10/AU16 bare upper/lower teeth.
    p["mouth_y"] = p["nose_y"] - u(5.5, 7.5) + 0.4 * au[10] - 0.3 * au[26]
    p["mouth_w"] = np.maximum(
        u(5.2, 7.0) + 1.9 * au[12] + 2.3 * au[20] - 1.7 * au[23] - 1.3 * au[26] * (1 - au[20]),
        3.0,
    )
    p["mouth_curve"] = u(-0.35, 0.35) + 3.0 * au[12] - 2.6 * au[15] - 0.4 * au[20] - 0.4 * au[23]
    press = 1.0 - 0.85 * au[23]
    p["open_up"] = (0.3 * au[26] + 1.7 * au[10] + 0.3 * au[12] + 0.5 * au[12] * au[26]) * press
    p["open_low"] = (3.4 * au[26] + 1.7 * au[16] + 0.7 * au[20]) * press
    p["round"] = np.clip(au[26] * (1.0 - au[12]) * (1.0 - au[20]) * 1.3, 0.0, 1.0)
    thin = np.clip(1.0 - 0.65 * au[23] - 0.3 * au[20] - 0.25 * au[12], 0.25, 1.0)
    p["lip_up"] = u(0.8, 1.4) * thin
    p["lip_low"] = u(1.1, 1.9) * thin
    p["teeth_up"] = np.clip(1.4 * au[10] + 1.3 * au[12] + 0.3 * au[20], 0.0, 1.0)
    p["teeth_low"] = np.clip(1.5 * au[16] + 1.0 * au[20], 0.0, 1.0)

    # Creases that come with the AUs (darkening strength).
    p["wrinkle_forehead_in"] = 0.22 * au[1]
    p["wrinkle_forehead_out"] = 0.22 * au[2]
    p["wrinkle_glabella"] = 0.3 * au[4]
    p["wrinkle_nose"] = 0.32 * au[9]
    p["nasolabial"] = 0.05 + 0.22 * np.clip(au[6] + au[12] + 0.8 * au[9] + 0.8 * au[10], 0, 1.2)
    p["crows_feet"] = 0.25 * au[6]
    p["under_eye"] = 0.05 + 0.15 * np.clip(au[6] + 0.6 * au[7], 0.0, 1.0)
    p["cheek_lift"] = 0.03 + 0.12 * au[6]
    p["corner_dimple"] = 0.25 * np.clip(au[12] + au[15] + 0.5 * au[20] + 0.5 * au[23], 0.0, 1.0)

    # Photometry.
    p["light"] = u(0.0, diff.lighting)
    p["light_angle"] = u(0.0, 2 * np.pi)
    p["contrast"] = u(0.75, 1.2)
    p["brightness"] = u(-0.08, 0.08)
    p["noise"] = u(*diff.noise)
    p["blur"] = u(0.0, diff.blur)
    # Occlusion: kind 0 none, 1 hand over the lower face, 2 sunglasses, 3 patch, 4 edge object.
    occluded = rng.random(n) < diff.occlusion
    p["occ_kind"] = np.where(occluded, rng.integers(1, 5, n), 0).astype(np.float32)
    p["occ_x"] = u(-1.0, 1.0)
    p["occ_y"] = u(-1.0, 1.0)
    p["occ_rx"] = u(0.0, 1.0)
    p["occ_ry"] = u(0.0, 1.0)
    p["occ_tone"] = u(0.0, 1.0)
    return {k: v.astype(np.float32) for k, v in p.items()}


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

# Pixel centres, flattened: a chunk is painted as (m, 2304) so that per-image scalars of shape
# (m, 1) broadcast along long contiguous rows, which numpy runs several times faster than 48-wide
# rows of an (m, 48, 48) array.
_AXIS = np.arange(IMAGE_SIZE, dtype=np.float32) - (IMAGE_SIZE - 1) / 2
_PX = np.ascontiguousarray(np.broadcast_to(_AXIS[None, :], (IMAGE_SIZE, IMAGE_SIZE))).ravel()
_PY = np.ascontiguousarray(np.broadcast_to(-_AXIS[:, None], (IMAGE_SIZE, IMAGE_SIZE))).ravel()


def _col(v: np.ndarray) -> np.ndarray:
    """Per-image scalars as (m, 1) so they broadcast over the flattened pixel grid."""
    return v[:, None]


class _Canvas:
    """One chunk of images being painted, with the per-image anti-aliasing scale."""

    def __init__(self, img: np.ndarray, px_per_unit: np.ndarray) -> None:
        self.img = img
        self.k = px_per_unit

    def cover(self, d: np.ndarray, soft: float = 1.0) -> np.ndarray:
        """Coverage of a shape with signed distance ``d`` (face units), ramped over ``soft`` px."""
        c = d * (self.k / soft) if soft != 1.0 else d * self.k
        np.subtract(0.5, c, out=c)
        return np.clip(c, 0.0, 1.0, out=c)

    def paint(self, coverage: np.ndarray, tone: np.ndarray | float) -> None:
        """Alpha-blend ``tone`` over the canvas."""
        self.img += coverage * (tone - self.img)

    def darken(self, amount: np.ndarray) -> None:
        """Multiply by (1 - amount): shadows and creases keep the local skin tone."""
        self.img *= 1.0 - amount


def _ellipse(x: np.ndarray, y: np.ndarray, cx, cy, rx, ry) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipse (exact on the minor axis)."""
    ex = (x - cx) / rx
    ey = (y - cy) / ry
    r = np.sqrt(ex * ex + ey * ey)
    return (r - 1.0) * np.minimum(rx, ry)


def _blob(x: np.ndarray, y: np.ndarray, cx, cy, r) -> np.ndarray:
    """Smooth bump, 1 at the centre and 0 beyond radius ``r``: cheap soft shading."""
    dx = x - cx
    dy = y - cy
    q = np.maximum(1.0 - (dx * dx + dy * dy) / (r * r), 0.0)
    return q * q


def _render_chunk(p: dict[str, np.ndarray], noise_rng: np.random.Generator) -> np.ndarray:
    """Paint every face of one chunk; returns uint8 (m, 48, 48)."""
    c = {k: _col(v) for k, v in p.items()}
    m = len(p["rot"])

    # Face frame: undo pose, so every shape below is written for an upright canonical face.
    cos, sin, s = np.cos(c["rot"]), np.sin(c["rot"]), c["scale"]
    px = _PX - c["tx"]
    py = _PY - c["ty"]
    x = (cos * px + sin * py) / s
    y = (cos * py - sin * px) / s
    canvas = _Canvas(np.empty((m, IMAGE_SIZE * IMAGE_SIZE), np.float32), s)

    # Background: flat tone with a gentle gradient of its own.
    gx = np.cos(c["bg_angle"]) * c["bg_grad"] / IMAGE_SIZE
    gy = np.sin(c["bg_angle"]) * c["bg_grad"] / IMAGE_SIZE
    canvas.img[:] = c["bg"] + gx * _PX + gy * _PY

    a, b_up, b_low = c["head_a"], c["head_b_up"], c["head_b_low"]
    skin = c["skin"]

    # Long hair behind the head, neck, ears.
    hv = c["hair_volume"]
    d_back = _ellipse(x, y, 0.0, 1.0, a + hv + 1.0, b_up + hv)
    canvas.paint(canvas.cover(np.maximum(d_back, c["hair_side"] - y)), c["hair"])
    d_neck = np.maximum(np.abs(x) - c["neck_w"], y + 10.0)
    canvas.paint(canvas.cover(d_neck), skin * 0.72)

    # Mirrored feature coordinates: X is the distance from the midline, compressed on the side the
    # head turns away from; one evaluation draws both eyes, brows, ears, nostrils, folds.
    xf = x - c["yaw_shift"]
    side = np.sign(xf)
    X = np.abs(xf) * (1.0 + c["yaw_squash"] * side)
    ey = c["eye_y"]
    canvas.paint(canvas.cover(_ellipse(X, y, a - 0.5, ey - 3.0, 2.4, 4.8)), skin * 0.85)

    # Head: an egg (narrower at the chin), its lower half stretched when the jaw drops.
    inv_low = 1.0 / b_low
    yn_head = y * (inv_low + (1.0 / b_up - inv_low) * (y > 0))
    ax = a * (1.0 + c["taper"] * np.clip(yn_head, -1.0, 0.3))
    xn = x / ax
    r2 = xn * xn + yn_head * yn_head
    d_head = (np.sqrt(r2) - 1.0) * a
    skin_shaded = skin * (1.0 - c["face_shade"] * r2 * r2)
    canvas.paint(canvas.cover(d_head), skin_shaded)
    del skin_shaded, xn, ax

    # Hair on top: inside a slightly larger head outline and above a hairline that dips at the
    # temples.
    hairline = (
        c["hairline"]
        - c["hair_curve"] * (x / a) ** 2
        + c["hair_part"] * x
        + c["fringe_amp"] * np.cos(x * c["fringe_freq"] + c["fringe_phase"])
    )
    d_hair = np.maximum(d_head - hv, hairline - y)
    canvas.paint(canvas.cover(d_hair, soft=1.5), c["hair"])
    del d_hair, hairline

    # Soft shading: eye sockets, cheeks, nose sides, nose base and tip.
    ex, ew = c["eye_x"], c["eye_w"]
    canvas.darken(0.18 * _blob(X, y, ex, ey + 0.8, ew + 1.8))
    canvas.img *= 1.0 + c["cheek_lift"] * _blob(X, y, ex + 0.3, ey - 6.5, 4.5)
    nose_y, nose_w = c["nose_y"], c["nose_w"]
    bridge = np.maximum(np.abs(X - 1.9) - 0.7, np.abs(y - (ey + nose_y) / 2) - (ey - nose_y) / 2)
    canvas.darken(c["nose_shade"] * canvas.cover(bridge, soft=3.0))
    canvas.darken(0.25 * canvas.cover(_ellipse(X, y, 0.0, nose_y - 1.1, nose_w, 0.9), soft=1.5))
    canvas.img *= 1.0 + 0.08 * _blob(X, y, 0.0, nose_y + 1.0, 2.0)

    # Creases brought by the AUs: forehead lines (AU1 medial, AU2 lateral), glabella (AU4),
    # nose bridge (AU9), crow's feet and under-eye bags (AU6/7), nasolabial folds.
    brow_mid = (c["brow_in_y"] + c["brow_out_y"]) / 2
    band = np.cos((y - brow_mid) * 2.1)
    band = np.maximum(band, 0.0, out=band)
    band *= band * band
    lateral = np.clip((X - 2.0) / 8.0, 0.0, 1.0)
    forehead = (
        c["wrinkle_forehead_in"] * (1.0 - lateral) + c["wrinkle_forehead_out"] * lateral
    ) * band
    forehead_zone = np.maximum(
        np.maximum(brow_mid + 2.3 - y, y - (brow_mid + 9.0)), X - c["brow_out_x"]
    )
    canvas.darken(forehead * canvas.cover(forehead_zone, soft=3.0))
    glabella = np.maximum(np.abs(X - 1.1) - 0.3, np.abs(y - (c["brow_in_y"] - 1.0)) - 2.0)
    canvas.darken(c["wrinkle_glabella"] * canvas.cover(glabella))
    nose_lines = np.maximum(np.cos((y - ey) * 2.6), 0.0)
    nose_lines *= nose_lines * nose_lines
    nose_zone = np.maximum(X - 2.8, np.abs(y - (ey - 3.2)) - 2.2)
    canvas.darken(c["wrinkle_nose"] * nose_lines * canvas.cover(nose_zone, soft=1.5))
    fan = np.maximum(np.cos((y - ey) * 2.2 + (X - ex) * 0.8), 0.0) ** 2
    feet_zone = np.maximum(np.abs(X - (ex + ew + 1.6)) - 1.4, np.abs(y - ey) - 2.2)
    canvas.darken(c["crows_feet"] * fan * canvas.cover(feet_zone, soft=1.5))
    t_eye = (X - ex) / ew
    q_eye = np.maximum(1.0 - t_eye * t_eye, 0.0)
    low_lid = ey - c["lid_low"] * q_eye + c["eye_tilt"] * t_eye
    bag = np.maximum(np.abs(y - (low_lid - 1.3)) - 0.35, np.abs(X - ex) - ew * 0.8)
    canvas.darken(c["under_eye"] * canvas.cover(bag, soft=1.5))
    mouth_y, mouth_w = c["mouth_y"], c["mouth_w"]
    fold_top_x, fold_top_y = nose_w + 0.8, nose_y + 0.5
    fold_end_x, fold_end_y = mouth_w + 0.9, mouth_y + c["mouth_curve"] - 0.8
    f = np.clip((fold_top_y - y) / (fold_top_y - fold_end_y), 0.0, 1.0)
    fold_x = fold_top_x + (fold_end_x - fold_top_x) * f + 2.0 * f * (1.0 - f)
    fold = np.maximum(np.abs(X - fold_x) - 0.4, np.maximum(y - fold_top_y, fold_end_y - y))
    canvas.darken(c["nasolabial"] * (1.0 - 0.6 * f) * canvas.cover(fold, soft=1.8))
    del band, lateral, forehead, forehead_zone, glabella, nose_lines, nose_zone, fan, feet_zone
    del bag, fold, fold_x, f

    # Nostrils.
    nostril = _ellipse(X, y, 1.5 + 0.3 * nose_w / 3.0, nose_y - 0.6, 0.85 + 0.15 * nose_w / 3, 0.5)
    canvas.darken(0.55 * canvas.cover(nostril))

    # Brows: a tapered stroke between inner and outer ends with an arch.
    yb = y - c["brow_tilt"] * side
    bx0, bx1 = c["brow_in_x"], c["brow_out_x"]
    by0, by1 = c["brow_in_y"], c["brow_out_y"]
    tb = np.clip((X - bx0) / (bx1 - bx0), 0.0, 1.0)
    slope = (by1 - by0) / (bx1 - bx0)
    centre = by0 + (by1 - by0) * tb + c["brow_arch"] * 4.0 * tb * (1.0 - tb)
    half = c["brow_th"] * (0.6 - 0.3 * tb)
    d_brow = np.maximum(
        np.abs(yb - centre) / np.sqrt(1.0 + slope * slope) - half,
        np.maximum(bx0 - X, X - bx1),
    )
    canvas.paint(canvas.cover(d_brow), c["brow_tone"])
    del yb, tb, centre, half, d_brow

    # Eyes: almond opening between two lid curves, iris and pupil clipped to it, lash line.
    up_lid = ey + c["lid_up"] * q_eye + c["eye_tilt"] * t_eye
    edge = np.abs(X - ex) - ew
    opening = np.maximum(np.maximum(y - up_lid, low_lid - y), edge)
    inside = canvas.cover(opening)
    canvas.paint(inside, c["sclera"])
    iris_x = ex - c["gaze_x"] * side
    iris = _ellipse(X, y, iris_x, ey + c["gaze_y"], c["iris_r"], c["iris_r"])
    canvas.paint(canvas.cover(iris) * inside, c["iris"])
    pupil = _ellipse(X, y, iris_x, ey + c["gaze_y"], 0.7, 0.7)
    canvas.paint(canvas.cover(pupil) * inside, 0.03)
    lash = np.maximum(np.abs(y - (up_lid + 0.25)) - 0.5, edge - 0.3)
    canvas.paint(canvas.cover(lash), c["brow_tone"] * 0.6)
    canvas.darken(0.15 * canvas.cover(np.maximum(np.abs(y - low_lid) - 0.3, edge)))
    del up_lid, low_lid, edge, opening, inside, iris, pupil, lash, t_eye, q_eye

    # Mouth: lips between outer and inner curves, dark opening (a lip seam when closed), teeth.
    tm = X / mouth_w
    qm = np.maximum(1.0 - tm * tm, 0.0)
    sq = np.sqrt(qm)
    shape = qm + c["round"] * (sq - qm)
    mid = mouth_y + c["mouth_curve"] * (tm * tm)
    # A closed mouth keeps a dark seam about a pixel wide, tapering to the corners.
    in_up = mid + (c["open_up"] + 0.3) * shape
    in_low = mid - (c["open_low"] + 0.3) * shape
    out_up = in_up + c["lip_up"] * sq
    out_low = in_low - c["lip_low"] * sq
    corner = X - mouth_w
    canvas.paint(
        canvas.cover(np.maximum(np.maximum(y - out_up, out_low - y), corner)), c["lip_tone"]
    )
    d_open = np.maximum(np.maximum(y - in_up, in_low - y), corner)
    canvas.paint(canvas.cover(d_open), 0.06)
    teeth_up = np.maximum(d_open, (in_up - 1.5) - y)
    canvas.paint(canvas.cover(teeth_up) * c["teeth_up"], c["teeth"])
    teeth_low = np.maximum(d_open, y - (in_low + 1.1))
    canvas.paint(canvas.cover(teeth_low) * c["teeth_low"], c["teeth"] * 0.9)
    dimple = _ellipse(X, y, mouth_w + 0.4, mouth_y + c["mouth_curve"], 0.9, 1.3)
    canvas.darken(c["corner_dimple"] * canvas.cover(dimple, soft=1.5))
    chin_y = mouth_y - c["open_low"] - c["lip_low"] - 1.6
    chin = _ellipse(X, y, 0.0, chin_y, 2.8, 0.7)
    canvas.darken(0.12 * canvas.cover(chin, soft=2.0))
    del tm, qm, sq, shape, mid, in_up, in_low, out_up, out_low, corner, d_open

    _occlude(canvas, c, x, y, X)

    # Photometry: lighting gradient, contrast, blur, noise.
    img = canvas.img
    lx = np.cos(c["light_angle"]) * c["light"] / (IMAGE_SIZE / 2)
    ly = np.sin(c["light_angle"]) * c["light"] / (IMAGE_SIZE / 2)
    img *= 1.0 + lx * _PX + ly * _PY
    img -= 0.5
    img *= c["contrast"]
    img += 0.5 + c["brightness"]
    img += c["blur"] * (_blur(img.reshape(m, IMAGE_SIZE, IMAGE_SIZE)).reshape(m, -1) - img)
    img += c["noise"] * noise_rng.standard_normal(img.shape, dtype=np.float32)
    img *= 255.0
    img += 0.5
    np.clip(img, 0.0, 255.0, out=img)
    return img.astype(np.uint8).reshape(m, IMAGE_SIZE, IMAGE_SIZE)


def _occlude(canvas: _Canvas, c: dict[str, np.ndarray], x, y, X) -> None:
    """Paint occluders of four kinds, evaluated only on the images that drew one."""
    idx = np.flatnonzero(c["occ_kind"][:, 0])
    if idx.size == 0:
        return
    sub = _Canvas(canvas.img[idx], canvas.k[idx])
    c = {k: v[idx] for k, v in c.items()}
    x, y, X = x[idx], y[idx], X[idx]
    kind = c["occ_kind"]
    ox, oy, rx, ry, tone = c["occ_x"], c["occ_y"], c["occ_rx"], c["occ_ry"], c["occ_tone"]
    # 1: a hand or object over the mouth and chin, roughly skin-toned.
    hand = _ellipse(x, y, 7.0 * ox, -15.0 + 4.0 * oy, 7.0 + 6.0 * rx, 5.0 + 4.0 * ry)
    hand_tone = c["skin"] * (0.8 + 0.35 * tone)
    sub.paint(sub.cover(hand, soft=1.5) * (kind == 1), hand_tone)
    # 2: sunglasses: two dark lenses over the eyes joined by a bridge.
    ey = c["eye_y"]
    lens = _ellipse(X, y, c["eye_x"], ey, c["eye_w"] + 1.2 + rx, 3.0 + ry)
    bar = np.maximum(np.abs(y - ey - 1.2) - 0.5, X - c["eye_x"])
    sub.paint(sub.cover(np.minimum(lens, bar)) * (kind == 2), 0.03 + 0.2 * tone)
    # 3: a patch anywhere in the image (watermark, object), in image coordinates.
    patch = np.maximum(
        np.abs(_PX - 16.0 * ox) - (4.0 + 6.0 * rx), np.abs(_PY - 16.0 * oy) - (4.0 + 6.0 * ry)
    )
    sub.paint(sub.cover(patch) * (kind == 3), tone)
    # 4: something entering from an image edge, cutting a straight boundary.
    angle = np.pi * ox
    edge = np.cos(angle) * _PX + np.sin(angle) * _PY - (14.0 + 8.0 * rx)
    sub.paint(sub.cover(-edge) * (kind == 4), tone)
    canvas.img[idx] = sub.img


def _blur(img: np.ndarray) -> np.ndarray:
    """Separable [1 4 6 4 1]/16 blur (σ≈1 px) with edge replication."""
    pad = np.pad(img, ((0, 0), (2, 2), (0, 0)), mode="edge")
    v = (pad[:, :-4] + pad[:, 4:] + 4.0 * (pad[:, 1:-3] + pad[:, 3:-1]) + 6.0 * pad[:, 2:-2]) / 16.0
    pad = np.pad(v, ((0, 0), (0, 0), (2, 2)), mode="edge")
    return (
        pad[:, :, :-4]
        + pad[:, :, 4:]
        + 4.0 * (pad[:, :, 1:-3] + pad[:, :, 3:-1])
        + 6.0 * pad[:, :, 2:-2]
    ) / 16.0


# ---------------------------------------------------------------------------------------------
# Public generation API
# ---------------------------------------------------------------------------------------------


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")


def _check_label_noise(label_noise: float) -> None:
    if not 0.0 <= label_noise < 1.0:
        raise ValueError(f"label_noise must be in [0, 1), got {label_noise!r}")


def render_faces(
    labels: np.ndarray, seed: int = 0, *, progress: bool = False, **difficulty: object
) -> np.ndarray:
    """Faces showing the given (clean) labels: uint8 (n, 48, 48), deterministic in ``seed``."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    if labels.min() < 0 or labels.max() >= len(CLASSES):
        raise ValueError(f"labels must lie in [0, {len(CLASSES) - 1}]")
    diff = make_difficulty(**difficulty)
    seeds = np.random.SeedSequence(seed).spawn(2)
    params = _sample_faces(labels, np.random.default_rng(seeds[0]), diff)
    n = len(labels)
    chunk_seeds = seeds[1].spawn((n + _CHUNK - 1) // _CHUNK)
    out = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    bar = progress_bar(n, "generating synthetic faces", min_total=1) if progress else None
    with bar or nullcontext(lambda k: None) as advance:
        for i, start in enumerate(range(0, n, _CHUNK)):
            stop = min(start + _CHUNK, n)
            part = {k: v[start:stop] for k, v in params.items()}
            out[start:stop] = _render_chunk(part, np.random.default_rng(chunk_seeds[i]))
            advance(stop - start)
    return out


def generate_faces(
    n: int,
    seed: int = 0,
    label_noise: float = 0.05,
    *,
    progress: bool = False,
    **difficulty: object,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` faces in FER2013's class proportions: (images uint8 n×48×48, noisy labels, clean labels).

    Clean labels follow the FER2013 class counts exactly (largest remainder), in random order;
    exactly round(label_noise·n) of the returned labels are moved to another class.
    """
    noisy, clean = sample_labels(n, seed, label_noise)
    images = render_faces(clean, seed, progress=progress, **difficulty)
    return images, noisy, clean


def sample_labels(
    n: int, seed: int = 0, label_noise: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """The (noisy, clean) labels ``generate_faces`` uses, without rendering any image."""
    _check_n(n)
    _check_label_noise(label_noise)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    clean = rng.permutation(np.repeat(np.arange(len(CLASSES)), class_quota(n))).astype(np.int64)
    return _flip_labels(clean, label_noise, rng), clean


def split_assignment(
    labels: np.ndarray, fractions: tuple[float, float, float], seed: int
) -> np.ndarray:
    """Split index per image (0 train, 1 val, 2 test), stratified by label, deterministic."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
    split = np.empty(len(labels), np.int64)
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_train = int(round(fractions[0] * len(idx)))
        n_val = int(round(fractions[1] * len(idx)))
        n_val = min(n_val, len(idx) - n_train)
        split[idx[:n_train]] = 0
        split[idx[n_train : n_train + n_val]] = 1
        split[idx[n_train + n_val :]] = 2
    return split


def _check_fractions(split_fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    fr = tuple(float(f) for f in split_fractions)
    if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(
            f"split_fractions must be three non-negative numbers summing to 1, got {split_fractions!r}"
        )
    return fr  # type: ignore[return-value]


def csv_filename(n: int, seed: int, label_noise: float) -> str:
    """The name under which a data root caches the CSV for these settings and this generator.

    ``GENERATOR_VERSION`` is in the name so that a changed renderer never reuses a stale file.
    """
    return f"synthetic_fer2013_v{GENERATOR_VERSION}_n{n}_s{seed}_ln{label_noise}.csv"


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` that replaces it only if the block finishes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, _FILE_MODE)  # mkstemp makes it private; the data set is meant to be shared
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_fer2013_csv(
    path: str | Path,
    n: int = 12000,
    seed: int = 0,
    label_noise: float = 0.05,
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    progress: bool = True,
    **difficulty: object,
) -> Path:
    """Generate ``n`` faces and write them in FER2013's CSV layout (rows grouped by Usage)."""
    _check_n(n)
    _check_label_noise(label_noise)
    fractions = _check_fractions(split_fractions)
    path = Path(path)
    images, labels, _ = generate_faces(n, seed, label_noise, progress=progress, **difficulty)
    split = split_assignment(labels, fractions, seed)
    order = np.argsort(split, kind="stable")
    usage = [USAGE_BY_SPLIT[s] for s in ("train", "val", "test")]
    flat = images.reshape(n, -1)
    with _atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        fh.write("emotion,pixels,Usage\n")
        for i in order:
            fh.write(_csv_row(int(labels[i]), flat[i], usage[split[i]]))
    return path


def _csv_row(label: int, pixels: np.ndarray, usage: str) -> str:
    return f"{label},{' '.join(map(str, pixels.tolist()))},{usage}\n"


def export_image_folders(csv_path: str | Path, root: str | Path) -> Path:
    """Write ``root/<split>/<class>/<index>.png`` from the CSV, as the folder loader expects.

    The tree is built in a temporary sibling directory and renamed into place, so ``root`` is
    either absent or complete. An existing non-empty ``root`` is left alone (error), never merged.
    """
    from PIL import Image

    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"{root}: already exists and is not empty; remove it or pick another")
    from emotion_lab.data.formats.fer2013_csv import parse_fer2013_csv

    data = parse_fer2013_csv(Path(csv_path), len(CLASSES))
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".tmp", dir=root.parent))
    os.chmod(tmp, _DIR_MODE)
    try:
        for split, decoded in data.items():
            for name in CLASSES:
                (tmp / split / name).mkdir(parents=True)
            for i, (image, label) in enumerate(zip(decoded.images, decoded.labels, strict=True)):
                Image.fromarray(image[..., 0], mode="L").save(
                    tmp / split / CLASSES[label] / f"{i:05d}.png"
                )
        if root.exists():
            root.rmdir()
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def save_sample_grid(path: str | Path, per_class: int = 10, seed: int = 0) -> Path:
    """A PNG with one row per class (labelled) of ``per_class`` faces rendered at the defaults."""
    if per_class <= 0:
        raise ValueError(f"per_class must be positive, got {per_class!r}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = np.repeat(np.arange(len(CLASSES)), per_class)
    images = render_faces(labels, seed)
    fig, axes = plt.subplots(
        len(CLASSES), per_class, figsize=(per_class * 0.9 + 1.0, len(CLASSES) * 0.95), squeeze=False
    )
    for r, name in enumerate(CLASSES):
        for col in range(per_class):
            ax = axes[r][col]
            ax.imshow(
                images[r * per_class + col], cmap="gray", vmin=0, vmax=255, interpolation="nearest"
            )
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    fig.suptitle(f"synthetic FER2013 faces (seed {seed})", fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


class SyntheticFer2013:
    """A ``DataSource`` that writes its CSV under ``root`` on first use, then reads it as FER2013."""

    def __init__(
        self,
        root: str | Path,
        n: int = 12000,
        seed: int = 0,
        label_noise: float = 0.05,
        on_bad_sample: OnBadSample = "error",
    ) -> None:
        _check_n(n)
        _check_label_noise(label_noise)
        if on_bad_sample not in ("error", "skip"):
            raise ValueError(f"on_bad_sample must be 'error' or 'skip', got {on_bad_sample!r}")
        self.root = Path(root)
        self.n, self.seed, self.label_noise = n, seed, label_noise
        self.on_bad_sample = on_bad_sample
        self.classes = CLASSES
        self.csv_path = self.root / csv_filename(n, seed, label_noise)
        self._reader = None

    def _source(self):
        if self._reader is None:
            if not self.csv_path.is_file():
                write_fer2013_csv(self.csv_path, self.n, self.seed, self.label_noise)
            from emotion_lab.data.formats.fer2013_csv import Fer2013Csv

            self._reader = Fer2013Csv(path=self.csv_path, on_bad_sample=self.on_bad_sample)
        return self._reader

    def available_splits(self) -> tuple[Split, ...]:
        return self._source().available_splits()

    def load(self, split: Split) -> ImageSet:
        return self._source().load(split)


def main(argv: list[str] | None = None) -> None:
    """Command line: write the CSV, and optionally image folders and a sample grid."""
    parser = argparse.ArgumentParser(
        prog="python -m emotion_lab.data.synthetic_faces", description=main.__doc__
    )
    parser.add_argument("--out", type=Path, required=True, help="directory for the CSV")
    parser.add_argument("--n", type=int, default=12000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label-noise", type=float, default=0.05)
    parser.add_argument("--folders", type=Path, help="also export <split>/<class>/*.png here")
    parser.add_argument("--grid", type=Path, help="also save a per-class sample grid PNG here")
    args = parser.parse_args(argv)
    try:
        csv_path = write_fer2013_csv(
            args.out / csv_filename(args.n, args.seed, args.label_noise),
            args.n,
            args.seed,
            args.label_noise,
        )
        print(f"wrote {csv_path}")
        if args.folders:
            print(f"wrote {export_image_folders(csv_path, args.folders)}")
        if args.grid:
            print(f"wrote {save_sample_grid(args.grid, seed=args.seed)}")
    except (ValueError, FileExistsError) as err:
        parser.error(str(err))


if __name__ == "__main__":
    main()
