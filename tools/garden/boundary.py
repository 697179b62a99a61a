"""The fence, hedge or wall around the garden: its look per season and where camera rays meet it.

The boundary is four vertical strips standing on the edges of the garden rectangle, numbered
counter-clockwise seen from above, each with an "along" coordinate running the same way:

    side 0  south  y = 0       along = x
    side 1  east   x = width   along = y
    side 2  north  y = height  along = width - x
    side 3  west   x = 0       along = height - y

A strip texture has row 0 at the top of the boundary and one pixel per ``RES_M`` both ways.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from tools.garden.layout import Garden
from tools.garden.lighting import exposure_scale
from tools.garden.noise import cell_tile, periodic_noise, stroke_tile, tile_over, value_noise
from tools.garden.season import SeasonLook
from tools.garden.texture import FROST, RES_M, SNOW

INWARD_NORMALS = np.array([(0.0, 1.0), (-1.0, 0.0), (0.0, -1.0), (1.0, 0.0)])


def side_lengths(garden: Garden) -> tuple[float, float, float, float]:
    return garden.width_m, garden.height_m, garden.width_m, garden.height_m


def paint_boundary(garden: Garden, look: SeasonLook) -> list[np.ndarray]:
    """Four lit uint8 strips (rows = height from the top, cols = along), one per side."""
    rng = np.random.default_rng(np.random.SeedSequence([0xFE7C, int(garden.id[1:])]))
    s_rng = np.random.default_rng(np.random.SeedSequence([0xFE7D, int(garden.id[1:]), look.year,
                                                          sum(map(ord, look.season))]))
    h_px = math.ceil(garden.boundary_height_m / RES_M)
    strips = []
    sun_dir = look.light.sun_direction
    sky = np.asarray(look.light.sky_bgr, np.float32)
    sun = np.asarray(look.light.sun_bgr, np.float32)
    for side, length in enumerate(side_lengths(garden)):
        shape = (h_px, math.ceil(length / RES_M))
        albedo = _ALBEDO[garden.boundary](shape, look, rng, s_rng)
        n = INWARD_NORMALS[side]
        direct = max(0.0, float(n[0] * sun_dir[0] + n[1] * sun_dir[1]))
        irr = sky * 0.6 + sun * direct
        z = (h_px - np.arange(h_px, dtype=np.float32) - 0.5) * RES_M
        contact = (0.6 + 0.4 * np.clip(z / 0.2, 0, 1))[:, None, None]  # dark where it meets soil
        lit = albedo * irr[None, None, :] * contact * exposure_scale(look.light)
        strips.append(np.clip(lit, 0, 255).astype(np.uint8))
    return strips


def _fence(shape, look: SeasonLook, rng, s_rng) -> np.ndarray:
    _h, w = shape
    board_px = int(rng.integers(9, 15))
    gap_px = int(rng.integers(1, 3))
    weathered = rng.random() < 0.4
    wood = np.array((0.5, 0.52, 0.53) if weathered else (0.22, 0.36, 0.52), np.float32)
    grain = tile_over(_grain_tile(int(rng.integers(3))), shape, rng)
    col = np.arange(w)
    board = col // board_px
    tone = (0.8 + 0.4 * ((board * 7919) % 101 / 101.0)).astype(np.float32)
    out = wood * (tone[None, :] * (0.75 + 0.5 * grain))[..., None]
    out[:, (col % board_px) < gap_px] *= 0.25
    return _weather(out, look, s_rng)


def _hedge(shape, look: SeasonLook, rng, s_rng) -> np.ndarray:
    leaves = tile_over(_leaf_tile(int(rng.integers(3))), shape, rng)
    depth = value_noise(shape, 12.0, rng)  # holes into the dark inside of the hedge
    green = {"spring": (0.12, 0.48, 0.22), "summer": (0.08, 0.34, 0.1),
             "autumn": (0.1, 0.3, 0.38), "winter": (0.1, 0.22, 0.12)}[look.season]
    out = np.asarray(green, np.float32) * (leaves * (0.35 + 0.9 * depth))[..., None]
    if look.season == "autumn":
        brown = value_noise(shape, 20.0, s_rng) > 0.6
        out[brown] *= np.array((0.7, 0.9, 1.5), np.float32)
    return _weather(out, look, s_rng)


def _wall(shape, look: SeasonLook, rng, s_rng) -> np.ndarray:
    h, w = shape
    bw, bh = 22, 7
    r = np.arange(h)[:, None]
    c = np.arange(w)[None, :]
    course = r // bh
    shifted = c + (course % 2) * (bw // 2)
    brick = (course * 7919 + (shifted // bw) * 104729) % 1009 / 1009.0
    base = np.array((0.2, 0.3, 0.55), np.float32) if rng.random() < 0.6 else np.array(
        (0.45, 0.5, 0.55), np.float32)
    grain = tile_over(periodic_noise(256, 80, rng), shape, rng)
    out = base * ((0.75 + 0.45 * brick) * (0.85 + 0.3 * grain))[..., None].astype(np.float32)
    mortar = ((r % bh) < 1) | ((shifted % bw) < 1)
    out[mortar] = (0.55, 0.58, 0.6)
    return _weather(out, look, s_rng)


def _weather(out: np.ndarray, look: SeasonLook, s_rng: np.random.Generator) -> np.ndarray:
    h, w = out.shape[:2]
    out = out * (1.0 - 0.3 * look.wetness)
    if look.frost > 0:
        fine = s_rng.random((h, w), dtype=np.float32)
        a = (look.frost * 0.5 * (0.5 + 0.5 * fine))[..., None]
        out = out + (FROST - out) * a
        # snow drifts against the foot of the boundary
        z = (h - np.arange(h, dtype=np.float32))[:, None] * RES_M
        drift = 0.06 + 0.12 * value_noise((1, w), 30.0, s_rng)
        snow = (z < drift * (look.snow_lawn / 0.3)).astype(np.float32)[..., None]
        out = out + (SNOW - out) * snow
    return out.astype(np.float32)


@functools.lru_cache(maxsize=4)
def _grain_tile(variant: int) -> np.ndarray:
    """Wood grain: long vertical strokes (cached, read-only)."""
    tile = stroke_tile(25, (90.0, 88.0, 92.0), np.random.default_rng([0xB0A2D, variant]),
                       size=256)
    tile.flags.writeable = False
    return tile


@functools.lru_cache(maxsize=4)
def _leaf_tile(variant: int) -> np.ndarray:
    """Hedge leaves: small lumps of varied tone (cached, read-only)."""
    ids, edge = cell_tile(5.0, np.random.default_rng([0x4ED6E, variant]), size=256)
    tone = (ids.astype(np.int64) * 2654435761 % 997 / 997.0).astype(np.float32)
    tile = ((0.55 + 0.7 * tone) * (1.1 - 0.6 * edge**2)).astype(np.float32)
    tile.flags.writeable = False
    return tile


_ALBEDO = {"fence": _fence, "hedge": _hedge, "wall": _wall}


def boundary_hits(
    garden: Garden, origin: np.ndarray, dirs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where rays from ``origin`` (3,) inside the garden along ``dirs`` (N, 3) leave it.

    Returns the ray parameter ``t``, the side (0..3), the along coordinate and the height z
    (metres) of the exit point through the boundary's vertical plane.
    """
    w, h = garden.width_m, garden.height_m
    ox, oy, oz = float(origin[0]), float(origin[1]), float(origin[2])
    dx, dy, dz = dirs[:, 0], dirs[:, 1], dirs[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = np.where(dx > 0, (w - ox) / dx, np.where(dx < 0, -ox / dx, np.inf))
        ty = np.where(dy > 0, (h - oy) / dy, np.where(dy < 0, -oy / dy, np.inf))
    use_x = tx < ty
    t = np.where(use_x, tx, ty)
    px, py, pz = ox + t * dx, oy + t * dy, oz + t * dz
    side = np.where(use_x, np.where(dx > 0, 1, 3), np.where(dy > 0, 2, 0)).astype(np.int8)
    along = np.select([side == 0, side == 1, side == 2], [px, py, w - px], h - py)
    return t, side, along, pz
