"""Expressions as FACS action units, and faces as per-image shape parameters driven by them.

Every emotion has a prototype set of AUs, fired at random intensities, plus weak random
activations of the others, so that neighbouring expressions overlap the way real ones do
(fear/surprise, anger/disgust, sadness/neutral). Identity, pose and photometry are drawn here too:
the renderer only paints what these parameters say.
"""

from __future__ import annotations

import numpy as np

from emotion_lab.data.synthetic_faces.difficulty import Difficulty
from emotion_lab.data.synthetic_faces.labels import CLASSES

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


def sample_action_units(
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


def sample_face_params(
    labels: np.ndarray, rng: np.random.Generator, diff: Difficulty
) -> dict[str, np.ndarray]:
    """Per-image scalars (float32, shape n) that fully describe each face; AUs move the features.

    Units are pixels of the canonical 48×48 crop, y pointing up, origin at the image centre.
    """
    n = len(labels)
    au = sample_action_units(labels, rng, diff)

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
