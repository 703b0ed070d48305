"""Painting faces from their shape parameters, a whole chunk of images at once.

Rendering evaluates implicit shapes (approximate signed distances) on the 48×48 grid for every
image of a chunk together, with one-pixel analytic anti-aliasing; there is no per-image Python
loop.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from emotion_lab.data.formats.cache import progress as progress_bar
from emotion_lab.data.formats.fer2013_csv import SIDE as IMAGE_SIZE
from emotion_lab.data.synthetic_faces.difficulty import make_difficulty
from emotion_lab.data.synthetic_faces.facs import sample_face_params
from emotion_lab.data.synthetic_faces.labels import CLASSES, sample_labels

# Images are rendered in fixed-size chunks: small enough to stay in cache, and fixed so that the
# noise drawn per chunk (and hence the output) depends on the seed alone.
_CHUNK = 500

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
    params = sample_face_params(labels, np.random.default_rng(seeds[0]), diff)
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
