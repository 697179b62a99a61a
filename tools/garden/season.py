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


# -- the year day by day ---------------------------------------------------------------------
SEASON_DAYS = 91  # days per season; day 0 of a year is the first day of spring
TRANSITION_DAYS = 14  # one season turns into the next over this many days around the boundary
_FIELDS_BLENDED = ("brightness_target", "noise_sigma", "exposure_time_s", "plant_growth", "bloom",
                   "wilt", "lawn_dryness", "lawn_leaves", "path_leaves", "soil_leaves", "frost",
                   "snow_lawn", "snow_path", "snow_soil", "wetness", "daisies")


def season_of_day(day: float, season_days: float = SEASON_DAYS) -> str:
    """The calendar season of ``day`` (days since the first day of spring of year 0)."""
    return SEASONS[int(day // season_days) % len(SEASONS)]


def change_days(days: float, season_days: float = SEASON_DAYS) -> list[float]:
    """The days in ``[0, days)`` on which one season is half turned into the next."""
    return [k * season_days for k in range(1, math.ceil(days / season_days))
            if k * season_days < days]


def look_on_day(day: float, seed: int = 0, *, season_days: float = SEASON_DAYS,
                transition_days: float = TRANSITION_DAYS, weather: bool = True) -> SeasonLook:
    """The garden's look on ``day``: the seasons turn gradually, and every day has its weather.

    Around each season boundary the look blends from one season into the next over
    ``transition_days`` (a smoothstep, so the change is fastest at the boundary, where it is
    half done); the ``season`` field names the season that dominates. With ``weather`` each day
    gets its own sky (sunny to overcast, the sun's height and direction of that hour, wet after
    rain), seeded by (seed, day): the within-season variation a drift alarm must not take for
    a new season. ``year`` counts up every four seasons, so next spring is a new spring.
    A shorter ``season_days`` (and ``transition_days``) compresses the year for simulations.
    """
    if not (math.isfinite(day) and day >= 0):
        raise ValueError(f"day must be a finite number >= 0, got {day!r}")
    if not 0 <= transition_days <= season_days:
        raise ValueError(f"transition_days must be in [0, season_days], got {transition_days!r}")
    k = int(day // season_days)
    into = day - k * season_days  # days since the start of season k
    half = transition_days / 2
    if into < half and k > 0:  # the end of the previous season's turn into this one
        a, b, x = k - 1, k, (into + half) / max(transition_days, 1e-9)
    elif into >= season_days - half:  # turning into the next season
        a, b, x = k, k + 1, (into - (season_days - half)) / max(transition_days, 1e-9)
    else:
        a, b, x = k, k, 0.0
    w = x * x * (3.0 - 2.0 * x)  # smoothstep
    look = _blend(_look_of(a, seed), _look_of(b, seed), w)
    return _with_weather(look, seed, int(day)) if weather else look


def _look_of(k: int, seed: int) -> SeasonLook:
    return season_look(SEASONS[k % len(SEASONS)], k // len(SEASONS), seed)


def _blend(a: SeasonLook, b: SeasonLook, w: float) -> SeasonLook:
    if w <= 0.0:
        return a
    if w >= 1.0:
        return b

    def mix(x: float, y: float) -> float:
        return (1.0 - w) * x + w * y

    def mix3(x: BGR, y: BGR) -> BGR:
        return (mix(x[0], y[0]), mix(x[1], y[1]), mix(x[2], y[2]))

    turn = (b.light.sun_azimuth_deg - a.light.sun_azimuth_deg + 180.0) % 360.0 - 180.0
    light = Light(mix(a.light.sun_elevation_deg, b.light.sun_elevation_deg),
                  (a.light.sun_azimuth_deg + w * turn) % 360.0,
                  mix3(a.light.sun_bgr, b.light.sun_bgr), mix3(a.light.sky_bgr, b.light.sky_bgr))
    main = a if w < 0.5 else b
    values = {f: mix(getattr(a, f), getattr(b, f)) for f in _FIELDS_BLENDED}
    return SeasonLook(season=main.season, year=main.year, light=light, **values)


def _with_weather(look: SeasonLook, seed: int, day: int) -> SeasonLook:
    rng = np.random.default_rng(np.random.SeedSequence([0x3EA7, seed, day]))
    cloud = float(rng.uniform(0.0, 1.0)) ** 2  # most days fairly sunny, some overcast
    hour = float(rng.uniform(-0.35, 0.35))  # of the half day around noon the robot works
    rain = float(rng.uniform(0.0, 1.0)) < 0.2
    sun = tuple(v * (1.0 - 0.75 * cloud) for v in look.light.sun_bgr)
    sky = tuple(v * (1.0 + 0.5 * cloud) for v in look.light.sky_bgr)
    light = Light(look.light.sun_elevation_deg * (1.0 - 0.5 * abs(hour)),
                  (look.light.sun_azimuth_deg + 60.0 * hour) % 360.0,
                  (sun[0], sun[1], sun[2]), (sky[0], sky[1], sky[2]))
    wet = min(1.0, look.wetness + 0.35) if rain else look.wetness
    values = {f: getattr(look, f) for f in _FIELDS_BLENDED}
    values["wetness"] = wet
    return SeasonLook(season=look.season, year=look.year, light=light, **values)
