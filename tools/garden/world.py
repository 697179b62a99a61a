"""A garden in one season, ready to render: lit textures, class maps, the standing things.

``build_world`` does the slow part once per recording (painting at 1 cm per pixel, casting
shadows); the renderer then only samples it. Ground and boundary share one atlas image so a frame
needs a single remap for the colours and one for the classes:

    rows [0, H)                the ground, as ``texture.py`` paints it
    rows strip_rows[k] + ...   boundary side k (see ``boundary.py``), ``boundary_px`` rows tall
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.garden.boundary import paint_boundary
from tools.garden.layout import Garden, make_garden
from tools.garden.lighting import light_ground, shadow_mask
from tools.garden.season import SeasonLook, season_look
from tools.garden.texture import OBSTACLE, RES_M, paint_ground

_PAD = 4  # rows between atlas regions so that bilinear sampling never bleeds across


@dataclass(frozen=True)
class World:
    garden: Garden
    look: SeasonLook
    seed: int
    atlas: np.ndarray  # (Ha, Wa, 3) uint8 lit BGR
    atlas_classes: np.ndarray  # (Ha, Wa) uint8 class ids
    ground_shape: tuple[int, int]  # (H, W) of the ground region
    strip_rows: tuple[int, int, int, int]  # first atlas row of each boundary side
    boundary_px: int
    shadow: np.ndarray  # (H, W) float32 ground shadow, 1 = shaded

    @property
    def ground_classes(self) -> np.ndarray:
        h, w = self.ground_shape
        return self.atlas_classes[:h, :w]

    def shadow_at(self, x_m: float, y_m: float) -> float:
        h, w = self.ground_shape
        r = min(max(int(y_m / RES_M), 0), h - 1)
        c = min(max(int(x_m / RES_M), 0), w - 1)
        return float(self.shadow[r, c])


def build_world(garden_id: str, season: str, year: int = 0, seed: int = 0) -> World:
    garden = make_garden(garden_id)
    look = season_look(season, year, seed)
    return build_world_for(garden, look, seed)


def build_world_for(garden: Garden, look: SeasonLook, seed: int) -> World:
    ground = paint_ground(garden, look, seed)
    h, w = ground.shape
    shadow = shadow_mask(garden, look, (h, w))
    lit = light_ground(ground.albedo, shadow, look.light)
    strips = paint_boundary(garden, look)
    bpx = strips[0].shape[0]
    rows = []
    r = h + _PAD
    for _ in strips:
        rows.append(r)
        r += bpx + _PAD
    width = max(w, *(s.shape[1] for s in strips))
    atlas = np.zeros((r, width, 3), np.uint8)
    classes = np.full((r, width), OBSTACLE, np.uint8)
    atlas[:h, :w] = lit
    classes[:h, :w] = ground.classes
    for r0, strip in zip(rows, strips, strict=True):
        atlas[r0 : r0 + bpx, : strip.shape[1]] = strip
        # repeat the edge rows into the padding so bilinear sampling stays on the strip
        atlas[r0 - _PAD : r0, : strip.shape[1]] = strip[:1]
        atlas[r0 + bpx : r0 + bpx + _PAD, : strip.shape[1]] = strip[-1:]
    return World(garden, look, seed, atlas, classes, (h, w), tuple(rows), bpx, shadow)
