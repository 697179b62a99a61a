"""Procedural noise for the garden textures: smooth value noise, strokes and irregular cells.

Fine-grained patterns (grass blades, pebbles, clods) are made once as a periodic square tile and
repeated over the garden, which is much cheaper than filtering a whole garden-sized image; the
coarse colour variation that hides the repetition is full-size smooth noise. Everything takes a
numpy ``Generator`` so that a texture depends only on its seed.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

TILE_PX = 512


def value_noise(shape: tuple[int, int], cell_px: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth noise in [0, 1] whose features are ``cell_px`` pixels across (float32)."""
    h, w = shape
    cell_px = max(float(cell_px), 1.0)
    gh, gw = int(h / cell_px) + 3, int(w / cell_px) + 3
    small = rng.random((gh, gw), dtype=np.float32)
    big_w, big_h = round(gw * cell_px), round(gh * cell_px)
    big = cv2.resize(small, (big_w, big_h), interpolation=cv2.INTER_CUBIC)
    oy = int(rng.integers(0, max(1, big_h - h - 1)))
    ox = int(rng.integers(0, max(1, big_w - w - 1)))
    return np.clip(big[oy : oy + h, ox : ox + w], 0.0, 1.0)


def periodic_noise(size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth noise on a ``size``-pixel square tile that repeats seamlessly; ``cells`` bumps
    across."""
    small = rng.random((cells, cells), dtype=np.float32)
    padded = np.pad(small, 2, mode="wrap")
    step = size / cells
    big = cv2.resize(padded, (round((cells + 4) * step),) * 2, interpolation=cv2.INTER_CUBIC)
    o = round(2 * step)
    return np.clip(big[o : o + size, o : o + size], 0.0, 1.0)


def stroke_tile(
    length_px: int, angles_deg: tuple[float, ...], rng: np.random.Generator, size: int = TILE_PX,
) -> np.ndarray:
    """Short bright/dark strokes (grass blades, stalks) on a periodic tile, float32 in [0, 1].

    White noise smeared along a line kernel; each angle rules where a coarse noise picks it, so
    the blades lean one way in one tuft and another way in the next.
    """
    base = rng.random((size, size), dtype=np.float32)
    pad = length_px + 1
    wrapped = np.pad(base, pad, mode="wrap")
    pick = periodic_noise(size, max(size // 24, 2), rng) * len(angles_deg)
    out = np.zeros((size, size), np.float32)
    total = np.zeros((size, size), np.float32)
    for k, angle in enumerate(angles_deg):
        smeared = cv2.filter2D(wrapped, -1, line_kernel(length_px, angle))[pad:-pad, pad:-pad]
        weight = np.clip(1.0 - np.abs(pick - (k + 0.5)), 0.0, 1.0)
        out += weight * smeared
        total += weight
    return stretch(out / np.maximum(total, 1e-3))


def line_kernel(length_px: int, angle_deg: float) -> np.ndarray:
    """A normalised 1-pixel-wide line of ``length_px`` at ``angle_deg`` (0 = along x)."""
    n = max(int(length_px), 1) | 1
    k = np.zeros((n, n), np.float32)
    c = n // 2
    a = np.radians(angle_deg)
    dx, dy = np.cos(a) * c, np.sin(a) * c
    cv2.line(k, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    return k / k.sum()


def cell_tile(
    cell_px: float, rng: np.random.Generator, size: int = TILE_PX,
) -> tuple[np.ndarray, np.ndarray]:
    """Irregular cells (pebbles, clods, leaves) on a periodic tile.

    A Voronoi diagram of jittered-grid seeds (OpenCV's labelled distance transform, on a tile
    padded with the wrapped-around seeds so that it repeats seamlessly). Returns ``(ids, edge)``:
    ``ids`` (int32) numbers the cells and ``edge`` (float32) runs from 0 at a cell's seed to 1 at
    its border, so a texture can shade each cell as a rounded lump.
    """
    n = max(round(size / cell_px), 2)
    step = size / n
    jy = (rng.random((n, n)) * 0.8 + 0.1 + np.arange(n)[:, None]) * step
    jx = (rng.random((n, n)) * 0.8 + 0.1 + np.arange(n)[None, :]) * step
    pad = math.ceil(2 * step)
    big = size + 2 * pad
    seeds = np.full((big, big), 255, np.uint8)
    ids_at = np.zeros((big, big), np.int32)
    for oy in (-size, 0, size):
        for ox in (-size, 0, size):
            r = np.floor(jy + oy + pad).astype(int).ravel()
            c = np.floor(jx + ox + pad).astype(int).ravel()
            ok = (r >= 0) & (r < big) & (c >= 0) & (c < big)
            seeds[r[ok], c[ok]] = 0
            ids_at[r[ok], c[ok]] = np.arange(n * n)[ok]
    d1, lab = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5,
                                              labelType=cv2.DIST_LABEL_PIXEL)
    # label -> seed pixel -> seed id
    zr, zc = np.nonzero(seeds == 0)
    seed_id = np.zeros(lab.max() + 1, np.int32)
    seed_id[lab[zr, zc]] = ids_at[zr, zc]
    ids = seed_id[lab]
    border = np.ones((big, big), np.uint8)
    border[:, 1:][ids[:, 1:] != ids[:, :-1]] = 0
    border[1:, :][ids[1:, :] != ids[:-1, :]] = 0
    d2 = cv2.distanceTransform(border, cv2.DIST_L2, 5)
    edge = np.clip(d1 / np.maximum(d1 + d2, 1e-6), 0.0, 1.0)
    crop = (slice(pad, pad + size), slice(pad, pad + size))
    return ids[crop].astype(np.int32), edge[crop].astype(np.float32)


def tile_over(tile: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Repeat a periodic tile over ``shape`` (H, W) from a random offset."""
    h, w = shape
    th, tw = tile.shape[:2]
    oy, ox = int(rng.integers(0, th)), int(rng.integers(0, tw))
    reps = ((h + oy) // th + 1, (w + ox) // tw + 1) + (1,) * (tile.ndim - 2)
    return np.tile(tile, reps)[oy : oy + h, ox : ox + w]


def stretch(a: np.ndarray, lo_pct: float = 1.0, hi_pct: float = 99.0) -> np.ndarray:
    """Rescale to [0, 1] between two percentiles (float32)."""
    lo, hi = np.percentile(a, (lo_pct, hi_pct))
    return np.clip((a - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0).astype(np.float32)
