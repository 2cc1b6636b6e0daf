"""Procedural "identikit" cartoon faces, generated on the fly from a seed (no downloads).

Every seed gives one face: ``sample_attributes(seed)`` draws its attributes with
``numpy.random.default_rng(seed)`` and ``render_face(attrs, size)`` draws it with
PIL.ImageDraw at a few times the target size, rotates/shifts it, and downsamples it with
Lanczos. Shape attributes (face shape, hair outline, pose, features) and colour attributes
(skin, hair, eyes, background, clothes) are drawn independently, so a generator trained on
these faces has both coarse and fine styles to mix.

    from stylegan_fast.train import identikit
    x = identikit.faces(range(16))          # [16, 3, 64, 64] float32 in [-1, 1]

    python -m stylegan_fast.train.identikit --out docs/identikit_samples.png --n 64
"""
from __future__ import annotations

import argparse
import functools
import math
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from tqdm import tqdm

from ..fileio import atomic_path

ATTRIBUTES = (
    "face_width", "face_aspect", "jaw", "skin_kind", "skin_color",
    "hair_color", "hair_length", "hair_style", "hair_part",
    "eye_spacing", "eye_height", "eye_size", "eye_color", "gaze",
    "brow_thickness", "brow_angle", "nose_size", "nose_shape",
    "mouth_width", "expression", "mouth_curve", "mouth_open",
    "beard", "beard_color", "glasses", "glasses_color",
    "bg_color", "bg_color2", "shirt_color",
    "shift_x", "shift_y", "rotation", "scale",
)

# The attributes that only colour a face in: the rest set its shape. Drawn independently of each other.
COLOUR_ATTRIBUTES = ("skin_kind", "skin_color", "hair_color", "eye_color", "beard_color", "glasses_color",
                     "bg_color", "bg_color2", "shirt_color")
HAIR_LENGTHS = ("short", "medium", "long")
HAIR_STYLES = ("flat", "bob", "spiky", "side_part", "curly", "bald")
NOSE_SHAPES = ("button", "triangle", "hook", "round")
EXPRESSIONS = ("smile", "neutral", "frown")
BEARDS = ("none", "stubble", "full")
GLASSES = ("none", "round", "square")
SKIN_KINDS = ("realistic", "fun")

# Continuous attributes: (low, high) of the uniform draw. Pose shifts are in pixels at 64x64.
RANGES = {
    "face_width": (0.19, 0.25),     # half-width of the face, as a fraction of the image side
    "face_aspect": (1.12, 1.45),    # half-height / half-width
    "jaw": (0.55, 1.0),             # width of the jaw relative to the cheeks
    "eye_spacing": (0.34, 0.52),    # eye centre offset from the midline, in face half-widths
    "eye_height": (-0.18, 0.02),    # eye line, in face half-heights below the face centre
    "eye_size": (0.15, 0.25),       # eye half-width, in face half-widths
    "gaze": (-0.35, 0.35),          # horizontal iris offset, in eye half-widths
    "brow_thickness": (0.04, 0.11),  # in face half-widths
    "brow_angle": (-22.0, 22.0),    # degrees; positive raises the inner ends (worried)
    "nose_size": (0.6, 1.4),
    "mouth_width": (0.24, 0.5),     # mouth half-width, in face half-widths
    "mouth_curve": (-1.0, 1.0),     # < 0 frown, > 0 smile
    "shift_x": (-3.0, 3.0),
    "shift_y": (-3.0, 3.0),
    "rotation": (-10.0, 10.0),      # degrees, in-plane
    "scale": (0.9, 1.1),
}

_SKIN_REALISTIC = [(255, 226, 200), (246, 208, 178), (236, 188, 150), (224, 172, 130), (205, 145, 105),
                   (180, 120, 85), (150, 96, 64), (120, 76, 50), (92, 58, 40), (250, 215, 190)]
_SKIN_FUN = [(150, 205, 120), (130, 175, 235), (185, 145, 215), (175, 175, 180), (250, 220, 90),
             (240, 150, 160)]
_HAIR = [(25, 20, 20), (55, 35, 25), (95, 60, 35), (140, 90, 50), (150, 60, 30), (215, 110, 45),
         (225, 195, 120), (240, 225, 170), (150, 150, 150), (235, 235, 235),
         (60, 90, 200), (220, 80, 160), (70, 170, 90), (130, 60, 180)]
_HAIR_P = np.array([14, 14, 12, 9, 6, 6, 8, 5, 5, 3, 4, 4, 3, 3], dtype=float)
_EYES = [(90, 55, 30), (50, 30, 20), (60, 120, 200), (70, 140, 80), (130, 105, 50), (120, 130, 140),
         (110, 70, 160)]
_BG = [(180, 210, 240), (175, 230, 200), (245, 200, 210), (240, 230, 200), (200, 200, 205),
       (210, 195, 235), (250, 235, 140), (40, 110, 120), (35, 45, 90), (110, 35, 50), (250, 250, 250),
       (60, 60, 65), (240, 160, 90), (130, 170, 90), (90, 140, 200), (200, 90, 80)]
_SHIRT = [(30, 30, 35), (240, 240, 240), (200, 40, 45), (40, 80, 170), (50, 140, 80), (230, 190, 50),
          (120, 70, 150), (150, 150, 155), (240, 130, 40), (30, 150, 170), (120, 80, 50), (230, 120, 170)]
_FRAMES = [(20, 20, 20), (110, 60, 30), (190, 30, 40), (40, 70, 190), (200, 170, 60), (235, 235, 235)]

_SUPERSAMPLE = 4
_LAYER = 1.8        # the drawing layer's side, in image sides: it covers the image at any pose
_CENTER_Y = 0.47    # vertical position of the face centre, as a fraction of the image side


def _pick(rng, options, p=None):
    """One of ``options``, uniformly or with relative weights ``p`` (one uniform draw either way)."""
    r = rng.random()
    if p is None:
        return options[min(int(r * len(options)), len(options) - 1)]
    cum = np.cumsum(np.asarray(p, dtype=float))
    return options[min(int(np.searchsorted(cum, r * cum[-1], side="right")), len(options) - 1)]


def _jitter(rng, color, amount):
    d = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(min(255, max(0, c + int(e)))) for c, e in zip(color, d))


def sample_attributes(seed: int) -> dict:
    """The attributes of face ``seed``: a dict keyed by ``ATTRIBUTES``; deterministic per seed."""
    rng = np.random.default_rng(seed)
    u = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in RANGES.items()}
    a = {k: u[k] for k in ("face_width", "face_aspect", "jaw", "eye_spacing", "eye_height", "eye_size",
                           "gaze", "brow_thickness", "brow_angle", "nose_size", "mouth_width",
                           "shift_x", "shift_y", "rotation", "scale")}
    a["skin_kind"] = _pick(rng, SKIN_KINDS, [0.85, 0.15])
    palette = _SKIN_REALISTIC if a["skin_kind"] == "realistic" else _SKIN_FUN
    a["skin_color"] = _jitter(rng, _pick(rng, palette), 10)
    a["hair_color"] = _jitter(rng, _pick(rng, _HAIR, _HAIR_P), 12)
    a["hair_length"] = _pick(rng, HAIR_LENGTHS)
    a["hair_style"] = _pick(rng, HAIR_STYLES, [0.22, 0.2, 0.15, 0.2, 0.13, 0.1])
    a["hair_part"] = _pick(rng, (-1, 1))
    a["eye_color"] = _jitter(rng, _pick(rng, _EYES), 10)
    a["nose_shape"] = _pick(rng, NOSE_SHAPES)
    a["expression"] = _pick(rng, EXPRESSIONS, [0.5, 0.3, 0.2])
    # The curvature lies within its expression's third of the range.
    lo, hi = {"frown": (-1.0, -0.3), "neutral": (-0.15, 0.15), "smile": (0.3, 1.0)}[a["expression"]]
    a["mouth_curve"] = lo + (u["mouth_curve"] + 1.0) / 2.0 * (hi - lo)
    a["mouth_open"] = bool(a["expression"] == "smile" and rng.random() < 0.45)
    a["beard"] = _pick(rng, BEARDS, [0.65, 0.15, 0.2])
    a["beard_color"] = a["hair_color"]
    a["glasses"] = _pick(rng, GLASSES, [0.65, 0.18, 0.17])
    a["glasses_color"] = _jitter(rng, _pick(rng, _FRAMES), 10)
    a["bg_color"] = _jitter(rng, _pick(rng, _BG), 12)
    shade = float(rng.uniform(0.82, 1.08))
    a["bg_color2"] = tuple(int(min(255, c * shade)) for c in a["bg_color"])
    a["shirt_color"] = _jitter(rng, _pick(rng, _SHIRT), 15)
    return {k: a[k] for k in ATTRIBUTES}


# -- drawing helpers --------------------------------------------------------------------------

def _shade(color, f):
    return tuple(int(max(0, min(255, c * f))) for c in color)


def _mix(c1, c2, t):
    return tuple(int(round(x * (1 - t) + y * t)) for x, y in zip(c1, c2))


def _ellipse(draw, cx, cy, rx, ry, fill=None, outline=None, width=1):
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill, outline=outline, width=width)


def _arc_points(cx, cy, rx, ry, t0, t1, n):
    """Points on an ellipse for angles t0..t1 (radians; y grows downwards, t = pi/2 is the bottom)."""
    t = np.linspace(t0, t1, n)
    return [(float(x), float(y)) for x, y in zip(cx + rx * np.cos(t), cy + ry * np.sin(t))]


def _face_outline(cx, cy, a, b, jaw, n=48):
    """The face: an ellipse whose lower half narrows towards the chin by ``jaw``."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    x, y = np.cos(t), np.sin(t)
    low = np.clip(y, 0.0, 1.0)
    x = x * (1.0 - (1.0 - jaw) * low ** 1.5)
    return [(float(px), float(py)) for px, py in zip(cx + a * x, cy + b * y)]


def _background(attrs: dict, size: int, columns: int | None = None) -> np.ndarray:
    """The [size, columns or size, 3] uint8 background: a vertical gradient from bg_color to bg_color2."""
    t = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None]
    c1 = np.asarray(attrs["bg_color"], dtype=np.float32)
    c2 = np.asarray(attrs["bg_color2"], dtype=np.float32)
    rows = c1 * (1.0 - t) + c2 * t
    return np.ascontiguousarray(np.broadcast_to(np.rint(rows)[:, None, :], (size, columns or size, 3)),
                                dtype=np.uint8)


def _draw_hair_back(d, at, cx, cy, a, b, hair):
    style, length = at["hair_style"], at["hair_length"]
    if style == "bald":
        return
    if style == "curly":
        bottom = {"short": None, "medium": cy + 0.45 * b, "long": cy + 1.2 * b}[length]
        if bottom is not None:
            r = 0.3 * a
            for yy in np.arange(cy - 0.3 * b, bottom, r * 1.2):
                for side in (-1, 1):
                    _ellipse(d, cx + side * 1.08 * a, yy, r, r, fill=hair)
            d.rectangle((cx - 1.08 * a, cy - 0.5 * b, cx + 1.08 * a, bottom), fill=hair)
        return
    if length == "short" and style != "bob":
        return
    bottom = {"short": cy + 0.35 * b, "medium": cy + 0.55 * b, "long": cy + 1.35 * b}[length]
    w = 1.2 * a if length != "long" else 1.28 * a
    top = _arc_points(cx, cy - 0.1 * b, w, 1.05 * b, math.pi, 2 * math.pi, 16)
    if style == "bob" or length == "medium":
        # Rounded bottom ends.
        pts = top + [(cx + w, bottom - 0.15 * a), (cx + w - 0.2 * a, bottom),
                     (cx - w + 0.2 * a, bottom), (cx - w, bottom - 0.15 * a)]
    else:
        flare = 0.12 * a
        pts = top + [(cx + w + flare, bottom), (cx - w - flare, bottom)]
    d.polygon(pts, fill=hair, outline=_shade(hair, 0.75), width=max(1, int(0.03 * a)))


def _draw_hair_front(d, at, cx, cy, a, b, hair):
    style, length = at["hair_style"], at["hair_length"]
    if style == "bald":
        return
    edge = _shade(hair, 0.72)
    lw = max(1, int(0.035 * a))
    side_y = {"short": cy - 0.2 * b, "medium": cy + 0.15 * b, "long": cy + 0.25 * b}[length]
    ox, oy, ocy = 1.1 * a, 1.1 * b, cy - 0.04 * b           # the outer outline of the hair cap
    # Angle on the outer ellipse where it reaches side_y (right side; mirrored on the left).
    s = max(-1.0, min(1.0, (side_y - ocy) / oy))
    t_side = math.asin(s)                                   # in (-pi/2, pi/2]
    fringe_y = cy - 0.52 * b
    if style == "curly":
        r = 0.3 * a
        pts = _arc_points(cx, ocy - 0.05 * b, ox, oy * 0.98, math.pi - t_side, 2 * math.pi + t_side, 15)
        inner = [(cx + 0.85 * a, side_y), (cx + 0.7 * a, fringe_y + 0.05 * b), (cx, fringe_y - 0.05 * b),
                 (cx - 0.7 * a, fringe_y + 0.05 * b), (cx - 0.85 * a, side_y)]
        d.polygon(pts + inner, fill=hair)
        for (px, py) in pts:
            _ellipse(d, px, py, r, r, fill=hair)
        for i in range(6):
            px = cx + (i - 2.5) / 2.5 * 0.65 * a
            _ellipse(d, px, fringe_y + 0.02 * b, 0.6 * r, 0.6 * r, fill=hair)
        return
    outer = _arc_points(cx, ocy, ox, oy, math.pi - t_side, 2 * math.pi + t_side, 25)
    if style == "spiky":
        spiked = []
        t = np.linspace(math.pi - t_side, 2 * math.pi + t_side, 25)
        for i, ti in enumerate(t):
            k = 1.0 if i % 2 == 0 or i in (0, len(t) - 1) else 1.3
            spiked.append((cx + ox * k * math.cos(ti), ocy + oy * (1.0 + 0.6 * (k - 1.0)) * math.sin(ti)))
        outer = spiked
        xs = np.linspace(0.88, -0.88, 9)
        inner = [(cx + 0.9 * a, side_y)]
        for j, x in enumerate(xs):
            inner.append((cx + x * a, fringe_y + (0.18 * b if j % 2 else -0.02 * b)))
        inner.append((cx - 0.9 * a, side_y))
    elif style == "flat":
        inner = [(cx + 0.88 * a, side_y), (cx + 0.82 * a, fringe_y), (cx - 0.82 * a, fringe_y),
                 (cx - 0.88 * a, side_y)]
    elif style == "bob":
        fy = fringe_y + 0.08 * b
        inner = [(cx + 0.9 * a, side_y + 0.1 * b), (cx + 0.86 * a, fy)]
        inner += _arc_points(cx, fy - 0.06 * b, 0.86 * a, 0.08 * b, 0.0, math.pi, 9)[1:-1]
        inner += [(cx - 0.86 * a, fy), (cx - 0.9 * a, side_y + 0.1 * b)]
    else:  # side_part: a diagonal sweep away from the parting
        p = at["hair_part"]
        hi_y, lo_y = cy - 0.82 * b, cy - 0.32 * b
        inner = [(cx + 0.9 * a, side_y)]
        for x in np.linspace(0.86, -0.86, 9):
            tt = (x * p + 0.86) / 1.72                     # 0 at the parting side, 1 at the far side
            inner.append((cx + x * a, hi_y + (lo_y - hi_y) * tt ** 1.6))
        inner.append((cx - 0.9 * a, side_y))
    d.polygon(outer + inner, fill=hair, outline=edge, width=lw)
    if style == "side_part":
        p = at["hair_part"]
        px = cx - p * 0.45 * a
        d.line([(px, cy - 0.82 * b), (px + p * 0.05 * a, cy - 1.08 * b)], fill=edge, width=lw)


def render_face(attrs: dict, size: int = 64) -> np.ndarray:
    """Draw one face from its attributes: an [size, size, 3] uint8 array."""
    at = attrs
    ss = _SUPERSAMPLE
    W = size * ss
    L = int(round(_LAYER * W))
    # The background is drawn into the layer too (its rotation by a few degrees is invisible), so the
    # pose transform needs no alpha channel and no compositing.
    layer = Image.fromarray(_background(at, L, columns=1)).resize((L, L), Image.NEAREST)
    d = ImageDraw.Draw(layer)
    cx = cy = L / 2.0
    a = at["face_width"] * W
    b = a * at["face_aspect"]
    skin, hair = tuple(at["skin_color"]), tuple(at["hair_color"])
    skin_dark = _shade(skin, 0.78)
    lw = max(1, int(round(0.035 * a)))

    # Hair, back part.
    _draw_hair_back(d, at, cx, cy, a, b, hair)

    # Neck and shoulders.
    shirt = tuple(at["shirt_color"])
    d.rectangle((cx - 0.42 * a, cy + 0.4 * b, cx + 0.42 * a, cy + 1.45 * b), fill=_shade(skin, 0.88))
    sh_top = cy + 1.28 * b
    _ellipse(d, cx, sh_top + 1.6 * b, 2.5 * a, 1.6 * b, fill=shirt, outline=_shade(shirt, 0.7), width=lw)
    d.polygon([(cx - 0.42 * a, sh_top - 0.02 * b), (cx + 0.42 * a, sh_top - 0.02 * b),
               (cx, sh_top + 0.38 * b)], fill=_shade(skin, 0.88))
    if at["hair_style"] != "bald" and at["hair_length"] == "long" and at["hair_style"] != "curly":
        # Long hair falls over the shoulders: its ends are drawn again over the shirt.
        for side in (-1, 1):
            x0 = cx + side * 1.0 * a
            d.polygon([(x0, sh_top - 0.3 * b), (x0 + side * 0.42 * a, sh_top - 0.3 * b),
                       (x0 + side * 0.4 * a, cy + 1.35 * b), (x0 - side * 0.05 * a, cy + 1.35 * b)], fill=hair)

    # Face and ears.
    outline = _face_outline(cx, cy, a, b, at["jaw"])
    d.polygon(outline, fill=skin, outline=skin_dark, width=lw)
    ear_y = cy - 0.02 * b
    for side in (-1, 1):
        ex = cx + side * 0.98 * a
        _ellipse(d, ex, ear_y, 0.17 * a, 0.26 * b, fill=skin, outline=skin_dark, width=lw)
        _ellipse(d, ex + side * 0.02 * a, ear_y, 0.07 * a, 0.14 * b, fill=_shade(skin, 0.85))
    # Cover the ears' inner outline so they join the face.
    _ellipse(d, cx, ear_y, 0.9 * a, 0.3 * b, fill=skin)

    # Beard.
    mouth_y = cy + 0.55 * b
    if at["beard"] != "none":
        beard = tuple(at["beard_color"])
        color = beard if at["beard"] == "full" else _mix(skin, beard, 0.45)
        # The lower face outline (pushed out a little for a full beard), from the right cheek round the
        # chin to the left cheek, closed by a moustache line above the mouth (drawn left to right).
        grow = 1.06 if at["beard"] == "full" else 1.0
        lower = _face_outline(cx, cy + (0.03 * b if grow > 1 else 0.0), a * grow, b * (1.1 if grow > 1 else 1.0),
                              at["jaw"], n=64)
        lower = [p for p in lower if p[1] > cy + 0.2 * b]
        lower.sort(key=lambda p: math.atan2(p[1] - cy, p[0] - cx))   # right cheek (angle ~0) first
        top = [(cx - 0.55 * a, cy + 0.3 * b), (cx - 0.3 * a, mouth_y - 0.16 * b),
               (cx, mouth_y - 0.19 * b), (cx + 0.3 * a, mouth_y - 0.16 * b), (cx + 0.55 * a, cy + 0.3 * b)]
        d.polygon(lower + top, fill=color)

    # Mouth.
    mw = at["mouth_width"] * a
    curve = at["mouth_curve"]
    depth = 0.22 * b * curve
    lip = _shade(_mix(skin, (190, 50, 65), 0.6), 0.8)
    xs = np.linspace(-1.0, 1.0, 13)
    if at["mouth_open"]:
        top_edge = [(cx + x * mw, mouth_y + 0.15 * depth * (1 - x * x)) for x in xs]
        bottom = [(cx + x * mw, mouth_y + 1.3 * depth * (1 - x * x)) for x in xs[::-1]]
        d.polygon(top_edge + bottom, fill=(110, 25, 35), outline=lip, width=lw)
        teeth = [(cx + x * mw * 0.9, mouth_y + 0.4 * depth * (1 - x * x)) for x in xs[::-1]]
        d.polygon([(cx + x * mw * 0.9, mouth_y + 0.15 * depth * (1 - x * x) + lw * 0.5) for x in xs] + teeth,
                  fill=(250, 250, 245))
    else:
        pts = [(cx + x * mw, mouth_y + depth * (1 - x * x)) for x in xs]
        d.line(pts, fill=lip, width=max(2, int(round(0.07 * b))), joint="curve")
        for p in (pts[0], pts[-1]):
            _ellipse(d, p[0], p[1], 0.035 * b, 0.035 * b, fill=lip)

    # Nose.
    ns = at["nose_size"] * a
    ny = cy + 0.22 * b
    nose_dark = _shade(skin, 0.68)
    shape = at["nose_shape"]
    if shape == "button":
        _ellipse(d, cx, ny, 0.12 * ns, 0.09 * ns, fill=_shade(skin, 0.85))
        for side in (-1, 1):
            _ellipse(d, cx + side * 0.07 * ns, ny + 0.03 * ns, 0.03 * ns, 0.025 * ns, fill=nose_dark)
    elif shape == "triangle":
        d.line([(cx - 0.02 * ns, ny - 0.35 * ns), (cx - 0.13 * ns, ny + 0.06 * ns), (cx + 0.1 * ns, ny + 0.06 * ns)],
               fill=nose_dark, width=lw, joint="curve")
    elif shape == "hook":
        d.line([(cx + 0.02 * ns, ny - 0.4 * ns), (cx + 0.1 * ns, ny - 0.02 * ns), (cx + 0.03 * ns, ny + 0.07 * ns),
                (cx - 0.08 * ns, ny + 0.05 * ns)], fill=nose_dark, width=lw, joint="curve")
    else:  # round
        _ellipse(d, cx, ny, 0.16 * ns, 0.14 * ns, fill=_shade(_mix(skin, (220, 90, 90), 0.3), 0.95),
                 outline=_shade(skin, 0.75), width=lw)

    # Eyes.
    ey = cy + at["eye_height"] * b
    er = at["eye_size"] * a
    eh = er * 0.75
    iris = tuple(at["eye_color"])
    for side in (-1, 1):
        ex = cx + side * at["eye_spacing"] * a
        _ellipse(d, ex, ey, er, eh, fill=(250, 250, 250), outline=(40, 30, 30), width=lw)
        ix = ex + at["gaze"] * er
        ir = eh * 0.85
        _ellipse(d, ix, ey, ir, ir, fill=iris)
        _ellipse(d, ix, ey, ir * 0.5, ir * 0.5, fill=(10, 10, 10))
        _ellipse(d, ix + ir * 0.3, ey - ir * 0.3, ir * 0.22, ir * 0.22, fill=(255, 255, 255))

    # Brows.
    brow = _shade(hair, 0.8) if sum(hair) < 600 else _shade(hair, 0.7)
    bt = at["brow_thickness"] * a
    by = ey - eh - 0.1 * b - bt * 0.5
    ang = math.radians(at["brow_angle"])
    for side in (-1, 1):
        ex = cx + side * at["eye_spacing"] * a
        half = er * 1.1
        inner = (ex - side * half, by - half * math.sin(ang))
        outer = (ex + side * half, by + half * math.sin(ang) * 0.3)
        d.line([inner, outer], fill=brow, width=max(2, int(round(bt))))

    # Glasses.
    if at["glasses"] != "none":
        fc = tuple(at["glasses_color"])
        gw = max(2, int(round(0.06 * a)))
        gr = er * 1.35
        gh = er * 1.1
        centers = [cx + side * at["eye_spacing"] * a for side in (-1, 1)]
        for gx in centers:
            box = (gx - gr, ey - gh, gx + gr, ey + gh)
            if at["glasses"] == "round":
                d.ellipse(box, outline=fc, width=gw)
            else:
                d.rounded_rectangle(box, radius=0.25 * gh, outline=fc, width=gw)
        d.line([(centers[0] + gr, ey - 0.2 * gh), (centers[1] - gr, ey - 0.2 * gh)], fill=fc, width=gw)
        for side, gx in zip((-1, 1), centers):
            d.line([(gx + side * gr, ey - 0.3 * gh), (cx + side * 0.97 * a, ey - 0.4 * gh)], fill=fc, width=gw)

    # Hair, front part (fringe and cap).
    _draw_hair_front(d, at, cx, cy, a, b, hair)

    # Pose: rotate about the face centre, scale, and move the face centre to its place in the image.
    s = at["scale"]
    th = math.radians(at["rotation"])
    px = W / 2.0 + at["shift_x"] * W / 64.0
    py = _CENTER_Y * W + at["shift_y"] * W / 64.0
    c, sn = math.cos(th) / s, math.sin(th) / s
    # input = R(th) (output - P) / s + (cx, cy)
    data = (c, -sn, cx - c * px + sn * py, sn, c, cy - sn * px - c * py)
    # Nearest-neighbour sampling is enough here (twice as fast as bilinear): its error, under a quarter of
    # an output pixel at 4x supersampling, is averaged away by the Lanczos downsampling below.
    posed = layer.transform((W, W), Image.AFFINE, data, resample=Image.NEAREST,
                            fillcolor=tuple(at["bg_color"]))
    return np.asarray(posed.resize((size, size), Image.LANCZOS), dtype=np.uint8).copy()


def face(seed: int, size: int = 64) -> np.ndarray:
    """Face ``seed`` as an [size, size, 3] uint8 array."""
    return render_face(sample_attributes(int(seed)), size)


def faces_uint8(seeds, size: int = 64) -> np.ndarray:
    """Faces for ``seeds`` as an [N, size, size, 3] uint8 array."""
    seeds = [int(s) for s in seeds]
    out = np.empty((len(seeds), size, size, 3), dtype=np.uint8)
    for i, s in enumerate(seeds):
        out[i] = face(s, size)
    return out


def to_tensor(images_uint8: np.ndarray) -> torch.Tensor:
    """[N, H, W, 3] uint8 -> [N, 3, H, W] float32 tensor in [-1, 1] (x / 127.5 - 1)."""
    x = torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float()
    return (x / 127.5 - 1.0).contiguous()


def faces(seeds, size: int = 64) -> torch.Tensor:
    """Faces for ``seeds`` as an [N, 3, size, size] float32 tensor in [-1, 1] (x / 127.5 - 1)."""
    return to_tensor(faces_uint8(seeds, size))


def main(argv=None) -> None:
    from ..images import make_grid, save_image

    ap = argparse.ArgumentParser(description="Write a grid of procedural identikit faces.")
    ap.add_argument("--out", default="docs/identikit_samples.png", help="output PNG path")
    ap.add_argument("--n", type=int, default=64, help="number of faces (the grid is square-ish)")
    ap.add_argument("--size", type=int, default=64, help="face resolution")
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    args = ap.parse_args(argv)
    imgs = faces_uint8(range(args.seed, args.seed + args.n), args.size)
    save_image(make_grid(imgs), args.out)
    print(f"wrote {args.n} faces to {args.out}")


if __name__ == "__main__":
    main()


def cached_pool(dataset_size: int, resolution: int, folder) -> torch.Tensor:
    """Faces 0 .. dataset_size-1 as [dataset_size, 3, res, res] uint8, rendered once (in parallel) and
    cached as ``folder/identikit_<size>_<res>.npy``."""
    cache = Path(folder) / f"identikit_{dataset_size}_{resolution}.npy"
    if cache.is_file():
        return torch.from_numpy(np.load(cache))
    render = functools.partial(face, size=resolution)
    with ProcessPoolExecutor(min(os.cpu_count() or 1, 16)) as pool:  # deterministic per seed: order kept
        faces = pool.map(render, range(dataset_size), chunksize=250)
        images = np.stack(list(tqdm(faces, total=dataset_size, desc="dataset")))
    images = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    with atomic_path(cache) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, images)
    return torch.from_numpy(images)
