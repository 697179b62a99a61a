"""The seasons really differ, and the labels stay true to what the things are."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from robot.common.classes import DEFAULT_CLASSES, SEASONS
from tools.garden.camera_fx import CameraEffects
from tools.garden.generate import default_camera
from tools.garden.layout import make_garden
from tools.garden.render import GardenRenderer
from tools.garden.season import (
    SEASON_DAYS,
    change_days,
    look_on_day,
    season_look,
    season_of_day,
)
from tools.garden.trajectory import drive
from tools.garden.world import build_world

LAWN, PATH, SOIL, PLANT = (DEFAULT_CLASSES.index(c) for c in ("lawn", "path", "soil", "plant"))
GARDEN = "g07"


@pytest.fixture(scope="module")
def views():
    """Camera frames and labels from the same 8 poses in every season."""
    garden = make_garden(GARDEN)
    states = drive(garden, season_look("summer"), 40.0, 2.0, np.random.default_rng(1))
    poses = [s.pose for s in states[::10]]
    cam = default_camera()
    out = {}
    for season in SEASONS:
        world = build_world(GARDEN, season)
        renderer = GardenRenderer(world, cam)
        fx = CameraEffects(cam.width, cam.height, cam.fx, world.look, np.random.default_rng(0))
        shots = []
        for pose in poses:
            clean, labels = renderer.render(pose)
            shots.append((fx.apply(clean, 0.0, 0.0), labels))
        out[season] = (world, shots)
    return out


def class_mean_bgr(shots, cls: int) -> np.ndarray:
    pix = np.concatenate([img[lab == cls] for img, lab in shots])
    assert len(pix) > 1000
    return pix.astype(float).mean(0)


def test_lawn_colour_differs_between_summer_and_winter_by_a_clear_margin(views):
    summer = class_mean_bgr(views["summer"][1], LAWN)
    winter = class_mean_bgr(views["winter"][1], LAWN)
    assert np.linalg.norm(summer - winter) > 40
    # summer's dry lawn is yellow-green (little blue); frost and snow bring the blue back
    assert summer[0] < 0.6 * summer[2]
    assert winter[0] > 0.85 * winter[2]


def test_leaf_covered_autumn_lawn_is_redder_than_spring_lawn(views):
    spring = class_mean_bgr(views["spring"][1], LAWN)
    autumn = class_mean_bgr(views["autumn"][1], LAWN)
    assert spring[1] > 1.3 * spring[2], "spring lawn is green"
    assert autumn[2] / autumn[1] > spring[2] / spring[1] + 0.3, "autumn leaves are red-brown"


def test_every_pair_of_seasons_looks_different(views):
    means = {s: np.mean([img.reshape(-1, 3).mean(0) for img, _ in views[s][1]], axis=0)
             for s in SEASONS}
    for i, a in enumerate(SEASONS):
        for b in SEASONS[i + 1 :]:
            assert np.linalg.norm(means[a] - means[b]) > 12, (a, b)


def test_plants_grow_through_summer_and_die_back_in_winter(views):
    plant = {s: int((views[s][0].ground_classes == PLANT).sum()) for s in SEASONS}
    assert plant["spring"] < 0.5 * plant["summer"]
    assert plant["autumn"] < plant["summer"]
    assert plant["winter"] < 0.5 * plant["summer"]


def test_the_same_kinds_of_things_keep_their_class_in_every_season(views):
    # only plants change class (they grow over soil and overhang the lawn a little);
    # leaves, frost and snow change how things look, never what they are
    maps = {s: views[s][0].ground_classes for s in SEASONS}
    ever_plant = np.logical_or.reduce([m == PLANT for m in maps.values()])
    base = maps["summer"]
    for season, cls in maps.items():
        np.testing.assert_array_equal(cls[~ever_plant], base[~ever_plant])
        assert np.isin(cls[ever_plant], (LAWN, SOIL, PLANT)).all(), season
    assert (base == PATH).any() and (base == SOIL).any()


def test_light_and_sun_move_with_the_seasons():
    looks = {s: season_look(s) for s in SEASONS}
    elev = {s: looks[s].light.sun_elevation_deg for s in SEASONS}
    assert elev["summer"] > elev["spring"] > elev["autumn"] > elev["winter"]
    assert looks["winter"].noise_sigma > looks["summer"].noise_sigma
    assert looks["spring"] != season_look("spring", year=1), "next spring is not a copy"


def test_unknown_season_is_an_error_naming_the_choices():
    with pytest.raises(ValueError, match="spring, summer, autumn, winter"):
        season_look("monsoon")


def test_the_year_turns_gradually_from_one_season_into_the_next():
    boundary = SEASON_DAYS  # summer starts
    leaves = [look_on_day(2 * SEASON_DAYS + d, weather=False).lawn_leaves for d in range(-10, 11)]
    assert leaves[0] == pytest.approx(season_look("summer", 0, 0).lawn_leaves)
    assert leaves[-1] == pytest.approx(season_look("autumn", 0, 0).lawn_leaves)
    assert all(b >= a for a, b in pairwise(leaves))  # no jumps back
    assert look_on_day(boundary - 20).season == "spring"
    assert look_on_day(boundary - 1, weather=False).season == "spring"
    assert look_on_day(boundary + 1, weather=False).season == "summer"
    mid = look_on_day(boundary, weather=False)
    lo, hi = sorted((season_look("spring").lawn_dryness, season_look("summer").lawn_dryness))
    assert lo < mid.lawn_dryness < hi


def test_a_year_later_spring_is_a_new_spring_and_days_have_their_own_weather():
    assert look_on_day(4 * SEASON_DAYS + 30).year == 1
    assert season_of_day(4 * SEASON_DAYS + 30) == "spring"
    assert change_days(2 * SEASON_DAYS + 1) == [SEASON_DAYS, 2 * SEASON_DAYS]
    a, b = look_on_day(40, seed=3), look_on_day(41, seed=3)
    assert a.season == b.season == "spring"
    assert a.light != b.light  # the weather differs from day to day …
    assert look_on_day(40, seed=3) == a  # … and is the same day in every run
    with pytest.raises(ValueError, match="day"):
        look_on_day(-1)


def test_a_compressed_year_has_its_seasons_in_fewer_days():
    assert season_of_day(9, season_days=8) == "summer"
    assert change_days(32, season_days=8) == [8, 16, 24]
    mid = look_on_day(24, season_days=8, transition_days=2, weather=False)
    assert mid.snow_lawn == pytest.approx(
        (season_look("autumn").snow_lawn + season_look("winter").snow_lawn) / 2)
