"""The garden seen from above: an albedo texture and a class map at 1 cm per pixel.

Painted once per garden, season and year; the renderer then samples it for every frame. Two
random streams are kept apart: the garden's own (slab joints, pebbles, plant outlines — the same
in every season) and the season's (leaves, snow, flowers — new every year).

Texture pixel (row, col) covers world x in [col, col+1) * RES_M and y in [row, row+1) * RES_M.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from robot.common.classes import DEFAULT_CLASSES
from tools.garden.layout import Garden
from tools.garden.noise import (
    TILE_PX,
    cell_tile,
    periodic_noise,
    stroke_tile,
    tile_over,
    value_noise,
)
from tools.garden.season import SeasonLook

TILE_VARIANTS = 3  # gardens and seasons share a few cached fine-pattern tiles each

RES_M = 0.01
LAWN, PATH, SOIL, PLANT, OBSTACLE = (DEFAULT_CLASSES.index(c) for c in
                                     ("lawn", "path", "soil", "plant", "obstacle"))
_SHIFT = 4  # sub-pixel bits for OpenCV drawing

# Flower colours (BGR) by plant kind, and the season-independent leaf-litter palette.
FLOWERS = ((0.15, 0.12, 0.85), (0.1, 0.78, 0.95), (0.62, 0.2, 0.55), (0.92, 0.92, 0.92),
           (0.62, 0.45, 0.98), (0.85, 0.45, 0.2))
LEAF_COLOURS = ((0.05, 0.28, 0.62), (0.06, 0.18, 0.38), (0.05, 0.12, 0.55), (0.1, 0.52, 0.75),
                (0.08, 0.25, 0.45), (0.04, 0.35, 0.7))
PAVING_COLOURS = ((0.6, 0.61, 0.6), (0.5, 0.62, 0.7), (0.45, 0.46, 0.46), (0.55, 0.55, 0.62))
GRAVEL_COLOURS = ((0.55, 0.6, 0.64), (0.5, 0.52, 0.54), (0.45, 0.55, 0.62))
SNOW = np.array((0.93, 0.93, 0.9), np.float32)
FROST = np.array((0.86, 0.86, 0.82), np.float32)


@dataclass(frozen=True)
class GroundMaps:
    albedo: np.ndarray  # (H, W, 3) float32 BGR in [0, 1]
    classes: np.ndarray  # (H, W) uint8 class ids
    plant_height: np.ndarray  # (H, W) float32 metres, 0 outside plants (for shadows)

    @property
    def shape(self) -> tuple[int, int]:
        return self.classes.shape


def texture_shape(garden: Garden) -> tuple[int, int]:
    return math.ceil(garden.height_m / RES_M), math.ceil(garden.width_m / RES_M)


def to_px(points: np.ndarray) -> np.ndarray:
    """World points (N, 2) in metres to OpenCV fixed-point pixel coordinates (``_SHIFT`` bits)."""
    return np.round((np.asarray(points, float) / RES_M - 0.5) * (1 << _SHIFT)).astype(np.int32)


def paint_ground(garden: Garden, look: SeasonLook, seed: int) -> GroundMaps:
    """Albedo and class map of ``garden`` as it looks in ``look`` (deterministic)."""
    shape = texture_shape(garden)
    g_rng = np.random.default_rng(np.random.SeedSequence([0x6A4D, int(garden.id[1:])]))
    s_rng = np.random.default_rng(np.random.SeedSequence(
        [0x5EA5, int(garden.id[1:]), look.year, seed, hash_season(look.season)]))
    classes, kinds, height = _class_map(garden, look, shape, g_rng)
    albedo = np.empty((*shape, 3), np.float32)
    patch = value_noise(shape, 70.0, g_rng)
    for cls, painter in ((LAWN, _lawn), (PATH, _path), (SOIL, _soil), (PLANT, _plant)):
        mask = classes == cls
        if not mask.any():
            continue
        rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        sub = painter(garden, look, (rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]),
                      patch[box], kinds[box], g_rng, s_rng)
        np.copyto(albedo[box], sub, where=mask[box][..., None])
    _paint_hoses(garden, albedo, classes)
    _cover(albedo, classes, look, s_rng)
    return GroundMaps(albedo, classes, height)


def hash_season(season: str) -> int:
    return sum((i + 1) * ord(c) for i, c in enumerate(season))


def _class_map(
    garden: Garden, look: SeasonLook, shape: tuple[int, int], g_rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    classes = np.full(shape, LAWN, np.uint8)
    for p in garden.paths:
        thick = max(1, round(p.width_m / RES_M))
        cv2.polylines(classes, [to_px(p.points)], False, PATH, thick, cv2.LINE_8, _SHIFT)
    for pt in garden.patios:
        corners = np.array([(pt.x0_m, pt.y0_m), (pt.x1_m, pt.y0_m), (pt.x1_m, pt.y1_m),
                            (pt.x0_m, pt.y1_m)])
        cv2.fillPoly(classes, [to_px(corners)], PATH, cv2.LINE_8, _SHIFT)
    for bed in garden.beds:
        cv2.fillPoly(classes, [to_px(bed.outline)], SOIL, cv2.LINE_8, _SHIFT)
    kinds = np.zeros(shape, np.uint8)  # plant kind + 1 under each plant
    height = np.zeros(shape, np.float32)
    for bed in garden.beds:
        for plant in bed.plants:
            outline = plant_outline(plant.x_m, plant.y_m, plant.radius_m * look.plant_growth,
                                    plant.seed)
            px = to_px(outline)
            cv2.fillPoly(classes, [px], PLANT, cv2.LINE_8, _SHIFT)
            cv2.fillPoly(kinds, [px], plant.kind + 1, cv2.LINE_8, _SHIFT)
            h = plant.radius_m * look.plant_growth * (1.6 - 0.8 * look.wilt)
            cv2.fillPoly(height, [px], float(h), cv2.LINE_8, _SHIFT)
    for hose in garden.hoses:
        cv2.polylines(classes, [to_px(hose.points)], False, OBSTACLE,
                      max(1, round(hose.width_m / RES_M)), cv2.LINE_8, _SHIFT)
    return classes, kinds, height


def plant_outline(x: float, y: float, r: float, seed: int, n: int = 28) -> np.ndarray:
    """A plant's lobed outline (a wobbly circle) of mean radius ``r``; same seed, same shape."""
    rng = np.random.default_rng(seed)
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    lobes = int(rng.integers(4, 8))
    wob = 1 + 0.16 * np.sin(lobes * a + rng.uniform(0, 6)) + 0.07 * rng.standard_normal(n)
    return np.stack([x + r * wob * np.cos(a), y + r * wob * np.sin(a)], -1)


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """``a`` blended towards ``b`` by ``t`` (scalar or per pixel)."""
    t = np.asarray(t, np.float32)
    if t.ndim == 2 and a.ndim == 3 and a.shape[:2] == t.shape:
        # OpenCV's per-pixel blend is several times faster than numpy on big images
        full_b = b if b.shape == a.shape else np.broadcast_to(b, a.shape)
        return cv2.blendLinear(np.ascontiguousarray(a, np.float32),
                               np.ascontiguousarray(full_b, np.float32), 1.0 - t, t)
    if t.ndim == 2:
        t = t[..., None]
    return a + (b - a) * t


def _col(bgr: tuple[float, float, float] | np.ndarray) -> np.ndarray:
    return np.asarray(bgr, np.float32).reshape(1, 1, 3)


def _lawn(garden, look, shape, patch, kinds, g_rng, s_rng) -> np.ndarray:
    blades = tile_over(_tile("blades", _variant(garden)), shape, g_rng)
    lush = _col((0.13, 0.37, 0.18))
    straw = _col((0.22, 0.55, 0.62))
    dry = np.clip(look.lawn_dryness * (0.55 + 0.9 * (patch - 0.5) + 0.45), 0, 1)
    colour = _mix(lush, straw, dry)
    # spring clover and moss: bluer, darker tufts
    moss = value_noise(shape, 18.0, g_rng)
    moss_amount = 0.4 * look.wetness
    colour = _mix(colour, _col((0.12, 0.32, 0.1)), np.clip((moss - 0.72) * 2.0, 0, moss_amount))
    shade = 0.45 + 0.95 * blades
    out = colour * shade[..., None] * (0.85 + 0.3 * patch[..., None])
    if look.daisies > 0:
        dots = s_rng.random(shape, dtype=np.float32) < look.daisies
        out[dots] = (0.85, 0.9, 0.92)
    return out


def _path(garden, look, shape, patch, kinds, g_rng, s_rng) -> np.ndarray:
    gi = int(garden.id[1:])
    grain = tile_over(periodic_noise(512, 170, g_rng), shape, g_rng)
    if garden.path_material == "paving":
        base = _col(PAVING_COLOURS[gi % len(PAVING_COLOURS)])
        out, joint = _paving(shape, base, grain, g_rng)
        joints_colour = _col((0.12, 0.3, 0.15)) if look.wetness > 0.4 else _col((0.2, 0.22, 0.24))
        out = _mix(out, joints_colour, joint)
    else:
        base = _col(GRAVEL_COLOURS[gi % len(GRAVEL_COLOURS)])
        out = _gravel(shape, base, g_rng)
    out = out * (1.0 - 0.35 * look.wetness) * (0.9 + 0.2 * patch[..., None])
    return out


def _paving(shape, base, grain, g_rng) -> tuple[np.ndarray, np.ndarray]:
    """Slabs in a running bond: albedo and joint mask."""
    sx = int(g_rng.integers(40, 61))
    sy = int(g_rng.integers(28, 46))
    r = np.arange(shape[0])[:, None]
    c = np.arange(shape[1])[None, :]
    rows = r // sy
    shifted = c + (rows % 2) * (sx // 2)
    slab = ((rows * 7919 + (shifted // sx) * 104729) % 1009 / 1009.0).astype(np.float32)
    tone = 0.85 + 0.3 * slab
    joint = (((r % sy) < 2) | ((shifted % sx) < 2)).astype(np.float32) * 0.85
    return base * (tone * (0.88 + 0.24 * grain))[..., None], joint


def _gravel(shape, base, g_rng) -> np.ndarray:
    """Pebbles about 3 cm across, each its own tone, dark gaps between them."""
    return base * tile_over(_tile("gravel", g_rng.integers(TILE_VARIANTS)), shape, g_rng)


def _soil(garden, look, shape, patch, kinds, g_rng, s_rng) -> np.ndarray:
    clods = tile_over(_tile("clods", _variant(garden)), shape, g_rng)
    moist = _col((0.07, 0.11, 0.17))
    dry = _col((0.24, 0.34, 0.45))
    dryness = float(np.clip(1.0 - look.wetness * 1.4, 0, 1))
    colour = _mix(moist, dry, dryness)
    out = colour * clods[..., None] * (0.85 + 0.3 * patch[..., None])
    if look.wetness > 0.4:  # freshly dug furrows in spring
        rr = np.arange(shape[0], dtype=np.float32)[:, None]
        cc = np.arange(shape[1], dtype=np.float32)[None, :]
        furrow = 0.5 + 0.5 * np.sin((rr * 0.8 + cc * 0.6) * (2 * math.pi / 16.0))
        out *= (0.7 + 0.45 * furrow)[..., None]
    if look.frost > 0:  # frozen clods: greyer, flatter
        out = _mix(out, _col((0.2, 0.21, 0.23)) * clods[..., None], 0.5)
    elif dryness > 0.6:  # sun-baked cracks
        cracks = tile_over(_tile("cracks", _variant(garden)), shape, g_rng)
        out *= (1.0 - 0.5 * cracks)[..., None]
    return out


def _plant(garden, look, shape, patch, kinds, g_rng, s_rng) -> np.ndarray:
    leaves = tile_over(_tile("foliage", _variant(garden)), shape, g_rng)
    fresh = _col((0.14, 0.62, 0.3)) if look.plant_growth < 0.5 else _col((0.1, 0.45, 0.14))
    wilted = _col((0.1, 0.36, 0.5))
    dead = _col((0.16, 0.24, 0.33))
    w = look.wilt
    colour = _mix(fresh, wilted, min(w / 0.7, 1.0)) if w <= 0.7 else _mix(wilted, dead,
                                                                           (w - 0.7) / 0.3)
    speckle = value_noise(shape, 6.0, s_rng)
    colour = _mix(colour, dead, np.clip((speckle - 0.75) * 3 * w, 0, 1))
    if w > 0.9:  # winter: bare stalks instead of leaves
        stalks = tile_over(_tile("stalks", _variant(garden)), shape, g_rng)
        leaves = 0.35 + 0.9 * stalks
    out = colour * leaves[..., None]
    # roundness: a plant is darker at its rim than at its sunny top
    inside = (kinds > 0).astype(np.float32)
    rim = cv2.GaussianBlur(inside, (0, 0), 3.0)
    out *= (0.55 + 0.5 * rim)[..., None]
    if look.bloom > 0:
        stacked = tile_over(_tile("flowers", s_rng.integers(TILE_VARIANTS)), shape, s_rng)
        u, petal = stacked[..., 0], stacked[..., 1]
        on = (u < look.bloom) & (kinds > 0)
        pal = np.asarray(FLOWERS, np.float32)[(kinds.astype(np.int32) - 1) % len(FLOWERS)]
        out[on] = pal[on] * petal[on][:, None]
    return out


def _variant(garden: Garden) -> int:
    return int(garden.id[1:]) % TILE_VARIANTS


@functools.lru_cache(maxsize=64)
def _tile(kind: str, variant: int) -> np.ndarray:
    """A cached periodic fine-pattern tile (read-only); ``variant`` picks one of a few."""
    rng = np.random.default_rng(np.random.SeedSequence([0x711E, hash_season(kind), int(variant)]))
    if kind == "blades":
        tile = stroke_tile(5, (60.0, 90.0, 120.0, 75.0), rng)
    elif kind == "stalks":
        tile = stroke_tile(9, (20.0, 70.0, 110.0, 160.0), rng)
    elif kind == "gravel":
        ids, edge = cell_tile(3.2, rng)
        tone, hue = _cell_value(ids, 2654435761), _cell_value(ids, 40503)
        pebble = (0.65 + 0.55 * tone) * (1.05 - 0.55 * edge**2)
        tile = np.stack([pebble * (0.9 + 0.2 * hue), pebble, pebble * (1.1 - 0.2 * hue)], -1)
        tile[edge > 0.93] *= 0.45
    elif kind == "clods":
        ids, edge = cell_tile(6.0, rng)
        tile = (0.7 + 0.5 * _cell_value(ids, 2654435761)) * (1.1 - 0.5 * edge**2)
    elif kind == "cracks":
        _ids, edge = cell_tile(14.0, rng)
        keep = periodic_noise(TILE_PX, 24, rng) > 0.55  # not every crack opens
        tile = ((edge > 0.95) & keep).astype(np.float32)
    elif kind == "foliage":
        ids, edge = cell_tile(4.5, rng)
        tile = (0.6 + 0.6 * _cell_value(ids, 2654435761)) * (1.1 - 0.6 * edge**2)
    elif kind == "flowers":
        tile = np.dstack(_flower_tile(rng))
    elif kind == "leaves":
        u, colour = _leaf_tile(rng)
        tile = np.dstack([u, colour])
    else:
        raise ValueError(f"unknown tile kind {kind!r}")
    tile = np.ascontiguousarray(tile, np.float32)
    tile.flags.writeable = False
    return tile


def _cell_value(ids: np.ndarray, mult: int) -> np.ndarray:
    """A pseudo-random value in [0, 1) per cell id."""
    return (ids.astype(np.int64) * mult % 997 / 997.0).astype(np.float32)


def _flower_tile(rng: np.random.Generator, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """A periodic tile of small round blossoms: per pixel the blossom's draw value and shading."""
    u = np.ones((size, size), np.float32)
    shade = np.ones((size, size), np.float32)
    n = size * size // 30
    xs, ys = rng.uniform(0, size, n), rng.uniform(0, size, n)
    rs = rng.uniform(1.2, 3.2, n)
    vals = np.sort(rng.random(n))[::-1]
    for x, y, r, v in zip(xs, ys, rs, vals, strict=True):
        for ox in (-size, 0, size):
            for oy in (-size, 0, size):
                cx, cy = x + ox, y + oy
                if -4 < cx < size + 4 and -4 < cy < size + 4:
                    c = (round(cx * 16), round(cy * 16))
                    cv2.circle(u, c, round(r * 16), float(v), -1, cv2.LINE_8, 4)
                    cv2.circle(shade, c, round(r * 16), 0.8, -1, cv2.LINE_8, 4)
                    cv2.circle(shade, c, round(r * 8), 1.1, -1, cv2.LINE_8, 4)
    return u, shade


def _leaf_tile(rng: np.random.Generator, size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Periodic leaf litter: per pixel the top leaf's draw value (low = drawn last) and colour."""
    u = np.ones((size, size), np.float32)
    colour = np.zeros((size, size, 3), np.float32)
    n = size * size // 9
    xy = rng.uniform(0, size, (n, 2))
    lens = rng.uniform(2.0, 4.5, n)
    widths = lens * rng.uniform(0.4, 0.65, n)
    angles = rng.uniform(0, 180, n)
    pal = np.asarray(LEAF_COLOURS, np.float32)
    cols = pal[rng.integers(0, len(pal), n)] * rng.uniform(0.75, 1.2, (n, 1)).astype(np.float32)
    vals = np.sort(rng.random(n))[::-1]  # smallest last: a leaf with draw value v is on top
    centres = np.round(xy * 16).astype(int)
    axes = np.stack([np.round(lens * 16), np.round(widths * 16)], -1).astype(int)
    margin = 6
    for i in range(n):
        # a leaf near the tile's border is drawn again on the far side so the tile wraps
        shifts = [(0, 0)]
        x, y = xy[i]
        sx = size if x < margin else -size if x > size - margin else 0
        sy = size if y < margin else -size if y > size - margin else 0
        if sx:
            shifts.append((sx, 0))
        if sy:
            shifts.append((0, sy))
        if sx and sy:
            shifts.append((sx, sy))
        c = cols[i]
        for dx, dy in shifts:
            centre = (int(centres[i, 0] + dx * 16), int(centres[i, 1] + dy * 16))
            ax = (int(axes[i, 0]), int(axes[i, 1]))
            cv2.ellipse(u, centre, ax, float(angles[i]), 0, 360, float(vals[i]), -1, cv2.LINE_8, 4)
            cv2.ellipse(colour, centre, ax, float(angles[i]), 0, 360,
                        (float(c[0]), float(c[1]), float(c[2])), -1, cv2.LINE_8, 4)
    return u, colour


def _paint_hoses(garden: Garden, albedo: np.ndarray, classes: np.ndarray) -> None:
    for hose in garden.hoses:
        px = to_px(hose.points)
        w = max(1, round(hose.width_m / RES_M))
        col = np.asarray(hose.colour, np.float32)
        cv2.polylines(albedo, [px], False, tuple(float(v) for v in col * 0.55), w, cv2.LINE_8,
                      _SHIFT)
        cv2.polylines(albedo, [px], False, tuple(float(v) for v in col), max(1, w // 2),
                      cv2.LINE_8, _SHIFT)


def _cover(albedo: np.ndarray, classes: np.ndarray, look: SeasonLook,
           s_rng: np.random.Generator) -> None:
    """Fallen leaves, frost and snow over the ground, in place; class-dependent amounts."""
    shape = classes.shape
    cover_leaves = np.zeros(len(DEFAULT_CLASSES), np.float32)
    cover_leaves[[LAWN, PATH, SOIL]] = look.lawn_leaves, look.path_leaves, look.soil_leaves
    if cover_leaves.any():
        litter = _tile("leaves", s_rng.integers(TILE_VARIANTS))
        stacked = tile_over(litter, shape, s_rng)
        u_full, colour_full = stacked[..., 0], stacked[..., 1:]
        drift = value_noise(shape, 90.0, s_rng)  # leaves pile up in drifts
        want = np.clip(cover_leaves[classes] * (0.45 + 1.1 * drift), 0.0, 1.0)
        # the top leaf's draw value is skewed low (many overlap): map a wanted cover fraction
        # to the draw-value threshold that covers that fraction of the tile
        ranks = np.sort(litter[::4, ::4, 0].ravel())
        on = u_full < ranks[(want * (len(ranks) - 1)).astype(np.int32)]
        albedo[on] = colour_full[on]
    if look.frost > 0:
        fine = s_rng.random(shape, dtype=np.float32)
        # hoar frost settles thickest on grass blades, least on stone
        weight = np.array([1.25, 0.55, 0.8, 0.9, 0.0], np.float32)[classes]
        amount = np.clip(look.frost * weight * (0.45 + 0.55 * fine), 0.0, 0.95)
        albedo[:] = _mix(albedo, FROST.reshape(1, 1, 3), amount)
    cover_snow = np.zeros(len(DEFAULT_CLASSES), np.float32)
    cover_snow[[LAWN, PATH, SOIL, PLANT]] = (look.snow_lawn, look.snow_path, look.snow_soil,
                                             look.snow_soil * 0.6)
    if cover_snow.any():
        field = 0.7 * value_noise(shape, 140.0, s_rng) + 0.3 * value_noise(shape, 22.0, s_rng)
        ranks = np.sort(field.ravel()[:: 97])
        thr = ranks[np.clip(((1.0 - cover_snow) * (len(ranks) - 1)).astype(int), 0,
                            len(ranks) - 1)]
        alpha = np.clip((field - thr[classes]) / 0.02, 0.0, 1.0)
        alpha[classes == OBSTACLE] = 0.0
        sparkle = 0.92 + 0.1 * s_rng.random(shape, dtype=np.float32)
        albedo[:] = _mix(albedo, SNOW.reshape(1, 1, 3) * sparkle[..., None], alpha)
