"""Sunlight and hard shadows: which ground the standing things shade, and how bright things are.

Ground irradiance is ``sky + sun * sin(elevation) * (1 - shadow)``; a surface with normal ``n``
gets ``sky * (0.55 + 0.45 n_z) + sun * max(0, n . s)``. Shadows are cast by obstacles, the
boundary fence/hedge/wall and the plants, onto the ground only.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from tools.garden.layout import Garden
from tools.garden.season import Light, SeasonLook
from tools.garden.texture import plant_outline, to_px

_SHIFT = 4
BRIGHT_LEVEL = 205.0  # grey level of a white surface in full sun on flat ground


def shadow_mask(garden: Garden, look: SeasonLook, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float32, 1 where the ground is in the shadow of something standing, else 0."""
    off = look.light.shadow_offset
    mask = np.zeros(shape, np.uint8)
    for ob in garden.obstacles:
        for part in ob.parts:
            _fill_shadow(mask, part.outline_points(), off)
    h = garden.boundary_height_m
    w_, h_ = garden.width_m, garden.height_m
    for (ax, ay), (bx, by) in (((0, 0), (w_, 0)), ((w_, 0), (w_, h_)), ((w_, h_), (0, h_)),
                               ((0, h_), (0, 0))):
        pts = np.array([(ax, ay, 0.0), (bx, by, 0.0), (bx, by, h), (ax, ay, h)])
        _fill_shadow(mask, pts, off)
    plants = np.zeros(shape, np.uint8)
    for bed in garden.beds:
        for p in bed.plants:
            r = p.radius_m * look.plant_growth
            outline = plant_outline(p.x_m, p.y_m, r, p.seed)
            top = r * (1.2 - 0.6 * look.wilt)
            pts = np.concatenate([np.c_[outline, np.zeros(len(outline))],
                                  np.c_[outline, np.full(len(outline), top)]])
            _fill_shadow(mask, pts, off)
            cv2.fillPoly(plants, [to_px(outline)], 1, cv2.LINE_8, _SHIFT)
    mask[plants > 0] = 0  # a plant's top is lit; its own shadow falls beside it
    shadow = mask.astype(np.float32)
    return cv2.GaussianBlur(shadow, (0, 0), 0.8)  # a hard shadow still has a penumbra


def _fill_shadow(mask: np.ndarray, pts: np.ndarray, off: np.ndarray) -> None:
    if len(pts) == 0:
        return
    ground = pts[:, :2] + pts[:, 2:3] * off[None, :]
    both = np.concatenate([pts[:, :2], ground]).astype(np.float32)
    hull = cv2.convexHull(both).reshape(-1, 2)
    cv2.fillConvexPoly(mask, to_px(hull), 1, cv2.LINE_8, _SHIFT)


def exposure_scale(light: Light) -> float:
    """Grey levels per unit of albedo x irradiance, so that sunlit white ground is BRIGHT_LEVEL."""
    flat = np.asarray(light.sky_bgr) + np.asarray(light.sun_bgr) * math.sin(
        math.radians(light.sun_elevation_deg))
    return BRIGHT_LEVEL / float(flat.mean())


def light_ground(albedo: np.ndarray, shadow: np.ndarray, light: Light) -> np.ndarray:
    """Lit ground texture as uint8 grey levels."""
    sky = np.asarray(light.sky_bgr, np.float32)
    sun = np.asarray(light.sun_bgr, np.float32) * math.sin(math.radians(light.sun_elevation_deg))
    irr = sky[None, None, :] + sun[None, None, :] * (1.0 - shadow)[..., None]
    lit = albedo * irr * exposure_scale(light)
    return np.clip(lit, 0, 255).astype(np.uint8)


def shade(albedo: np.ndarray, normals: np.ndarray, sun_dir: np.ndarray, light: Light,
          sunlit: float) -> np.ndarray:
    """Grey levels of surface points with albedo (N, 3) and unit normals (N, 3).

    ``sun_dir`` must be in the same frame as the normals; ``sunlit`` is 0 when the thing
    stands in another's shadow.
    """
    sky = np.asarray(light.sky_bgr, np.float32)
    sun = np.asarray(light.sun_bgr, np.float32)
    lambert = np.clip(normals @ sun_dir.astype(np.float32), 0.0, None) * sunlit
    ambient = 0.55 + 0.45 * normals[:, 2]
    irr = ambient[:, None] * sky[None, :] + lambert[:, None] * sun[None, :]
    return albedo * irr * exposure_scale(light)
