from __future__ import annotations

import numpy as np
import pytest

from tools.garden.layout import (
    GARDEN_IDS,
    TEST_GARDENS,
    TRAIN_GARDENS,
    garden_role,
    make_garden,
    parse_garden_id,
)


def test_split_is_six_training_and_two_held_out_gardens():
    assert TRAIN_GARDENS == ("g00", "g01", "g02", "g03", "g04", "g05")
    assert TEST_GARDENS == ("g06", "g07")
    assert not set(TRAIN_GARDENS) & set(TEST_GARDENS)
    assert [garden_role(g) for g in ("g00", "g06", "g12")] == ["train", "test", "extra"]


def test_a_garden_id_always_gives_the_same_layout():
    assert make_garden("g03") == make_garden("g03")


def test_gardens_differ_in_size_layout_and_materials():
    gardens = [make_garden(g) for g in GARDEN_IDS]
    assert len({(g.width_m, g.height_m) for g in gardens}) == len(gardens)
    assert {g.path_material for g in gardens} == {"paving", "gravel"}
    assert {g.boundary for g in gardens} == {"fence", "hedge", "wall"}
    # the held-out gardens between them show both path materials too
    assert {make_garden(g).path_material for g in TEST_GARDENS} == {"paving", "gravel"}
    kinds = [tuple(sorted(o.kind for o in g.obstacles)) for g in gardens]
    assert len(set(kinds)) > 4


@pytest.mark.parametrize("gid", GARDEN_IDS)
def test_every_garden_has_the_things_the_robot_needs(gid):
    g = make_garden(gid)
    assert g.paths or g.patios
    assert len(g.beds) >= 3
    for bed in g.beds:
        assert bed.plants and bed.probes
        assert all(p.zone == bed.id for p in bed.probes)
    assert len(g.obstacles) >= 4
    assert any(o.contacts for o in g.obstacles), "something the bumper can touch"
    for ob in g.obstacles:  # everything stands inside the fence
        cx, cy = ob.centre
        assert 0 < cx < g.width_m and 0 < cy < g.height_m


def test_obstacle_distance_is_zero_inside_a_footprint_and_grows_outside():
    g = make_garden("g06")
    ob = next(o for o in g.obstacles if o.kind == "pot")
    (part,) = ob.parts
    assert g.obstacle_distance(np.array(part.x_m), np.array(part.y_m)) == 0.0
    away = part.radius_m + 0.3
    d = float(ob.footprint_distance(np.array(part.x_m + away), np.array(part.y_m)))
    assert d == pytest.approx(0.3, abs=1e-9)


@pytest.mark.parametrize("text, expected", [("g03", "g03"), ("G3", "g03"), ("7", "g07"),
                                            (" g12 ", "g12")])
def test_garden_ids_are_parsed_leniently(text, expected):
    assert parse_garden_id(text) == expected


@pytest.mark.parametrize("bad", ["", "garden", "g", "g123", "x07", "-1"])
def test_bad_garden_ids_are_errors_that_say_the_form(bad):
    with pytest.raises(ValueError, match=r"g00\.\.g99"):
        parse_garden_id(bad)
