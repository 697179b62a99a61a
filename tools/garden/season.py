"""How a season looks: light, colours, leaves, snow and frost, and how far the plants have grown.

The tables below are the garden's year: lawn lush green in spring, dry yellow-green in summer,
leaf-covered in autumn, frosted with snow patches in winter; beds from bare soil with shoots,
to blooming, to wilting brown, to dead stalks. ``season_look`` jitters them per year and seed so
that "next spring" is a spring, but not the same one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot.common.classes import SEASONS

BGR = tuple[float, float, float]


@dataclass(frozen=True)
class Light:
    sun_elevation_deg: float
    sun_azimuth_deg: float  # direction the sun is in, counter-clockwise from +x (east)
    sun_bgr: BGR  # direct sunlight on a surface facing the sun (colour temperature included)
    sky_bgr: BGR  # diffuse light from the sky: all a shadow gets

    @property
    def sun_direction(self) -> np.ndarray:
        """Unit vector pointing from the ground towards the sun (world frame)."""
        e, a = math.radians(self.sun_elevation_deg), math.radians(self.sun_azimuth_deg)
        return np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])

    @property
    def shadow_offset(self) -> np.ndarray:
        """Where the shadow of a point 1 m up falls, relative to its foot (metres, x and y)."""
        d = self.sun_direction
        return -d[:2] / max(d[2], 0.05)


@dataclass(frozen=True)
class SeasonLook:
    season: str
    year: int
    light: Light
    brightness_target: float  # mean grey level auto-exposure aims for (0..255)
    noise_sigma: float  # sensor noise at unit gain (grey levels)
    exposure_time_s: float  # longer in dim light: more motion blur
    plant_growth: float  # plant radius as a fraction of its full summer size
    bloom: float  # fraction of a plant's area in flower
    wilt: float  # 0 fresh green .. 1 brown and dry
    lawn_dryness: float  # 0 lush .. 1 straw
    lawn_leaves: float  # fraction of the lawn under fallen leaves
    path_leaves: float
    soil_leaves: float
    frost: float  # 0 .. 1 whitening of every surface
    snow_lawn: float  # fraction of the lawn under snow patches
    snow_path: float
    snow_soil: float
    wetness: float  # darkens paths and soil
    daisies: float  # fraction of lawn pixels with a small flower


# Base tables per season; the year/seed jitter below keeps the character of each.
_BASE: dict[str, dict[str, float]] = {
    "spring": dict(elev=42, sun=1.0, warm=0.0, sky=0.42, target=118, noise=2.5, exp=0.012,
                   growth=0.6, bloom=0.05, wilt=0.0, dry=0.0, lawn_leaves=0.0, path_leaves=0.0,
                   soil_leaves=0.0, frost=0.0, snow_lawn=0.0, snow_path=0.0, snow_soil=0.0,
                   wet=0.55, daisies=0.012),
    "summer": dict(elev=60, sun=1.25, warm=0.08, sky=0.38, target=128, noise=2.0, exp=0.006,
                   growth=1.0, bloom=0.35, wilt=0.1, dry=0.75, lawn_leaves=0.0, path_leaves=0.0,
                   soil_leaves=0.0, frost=0.0, snow_lawn=0.0, snow_path=0.0, snow_soil=0.0,
                   wet=0.0, daisies=0.002),
    "autumn": dict(elev=26, sun=0.85, warm=0.35, sky=0.36, target=105, noise=3.5, exp=0.02,
                   growth=0.8, bloom=0.04, wilt=0.75, dry=0.3, lawn_leaves=0.6, path_leaves=0.12,
                   soil_leaves=0.12, frost=0.0, snow_lawn=0.0, snow_path=0.0, snow_soil=0.0,
                   wet=0.5, daisies=0.0),
    "winter": dict(elev=13, sun=0.6, warm=-0.16, sky=0.42, target=98, noise=5.0, exp=0.03,
                   growth=0.4, bloom=0.0, wilt=1.0, dry=0.2, lawn_leaves=0.05, path_leaves=0.0,
                   soil_leaves=0.05, frost=0.5, snow_lawn=0.2, snow_path=0.05, snow_soil=0.15,
                   wet=0.3, daisies=0.0),
}


def _tint(warm: float) -> np.ndarray:
    """BGR multipliers for a colour temperature: warm > 0 is yellow-orange, < 0 is blue."""
    return np.array([1.0 - 0.45 * warm, 1.0 - 0.05 * abs(warm), 1.0 + 0.35 * warm])


def season_look(season: str, year: int = 0, seed: int = 0) -> SeasonLook:
    """The look of ``season`` in ``year`` (0 = the first year) for a recording seed."""
    if season not in SEASONS:
        raise ValueError(f"season {season!r} is not one of {', '.join(SEASONS)}")
    rng = np.random.default_rng(np.random.SeedSequence([0x5EA5, SEASONS.index(season), year,
                                                         seed]))
    b = _BASE[season]

    def jit(value: float, rel: float = 0.15) -> float:
        return float(value * (1.0 + rel * rng.uniform(-1.0, 1.0)))

    def frac(value: float, rel: float = 0.2) -> float:
        return float(np.clip(jit(value, rel), 0.0, 1.0))

    warm = b["warm"] + float(rng.uniform(-0.08, 0.08))
    sun_tint = _tint(warm)
    sky_tint = _tint(warm - 0.25)  # skylight is always bluer than the sun
    sun = sun_tint * jit(b["sun"], 0.1)
    sky = sky_tint * jit(b["sky"], 0.1)
    light = Light(
        sun_elevation_deg=jit(b["elev"], 0.12),
        sun_azimuth_deg=float(rng.uniform(0.0, 360.0)),
        sun_bgr=tuple(float(v) for v in sun),
        sky_bgr=tuple(float(v) for v in sky),
    )
    return SeasonLook(
        season=season, year=year, light=light,
        brightness_target=jit(b["target"], 0.06), noise_sigma=jit(b["noise"], 0.2),
        exposure_time_s=jit(b["exp"], 0.2), plant_growth=frac(b["growth"], 0.1),
        bloom=frac(b["bloom"]), wilt=frac(b["wilt"], 0.1), lawn_dryness=frac(b["dry"]),
        lawn_leaves=frac(b["lawn_leaves"]), path_leaves=frac(b["path_leaves"]),
        soil_leaves=frac(b["soil_leaves"]), frost=frac(b["frost"], 0.15),
        snow_lawn=frac(b["snow_lawn"], 0.25), snow_path=frac(b["snow_path"], 0.3),
        snow_soil=frac(b["snow_soil"], 0.25), wetness=frac(b["wet"], 0.3),
        daisies=frac(b["daisies"], 0.3),
    )
