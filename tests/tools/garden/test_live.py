"""The live garden answers the robot's wheels, camera and pump like the recordings' world."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware_bridge.constants import N_ZONES
from robot.sim.world import zones_of
from tools.garden.generate import RecordingSpec, recording_meta
from tools.garden.live import LiveGarden, StepResult
from tools.garden.motion import CONTACT_TOL_M, ROBOT_RADIUS_M, WHEEL_BASE_M, contact_gap
from tools.garden.texture import LAWN, OBSTACLE, PLANT, SOIL


@pytest.fixture(scope="module")
def live() -> LiveGarden:
    return LiveGarden("g06", "autumn", seed=0)


@pytest.fixture
def g(live):
    live.place()
    return live


def open_spot(lg: LiveGarden, room_m: float = 1.5) -> tuple[float, float, float]:
    """A pose with ``room_m`` of free straight travel ahead, off the mud."""
    for x, y, th in lg.eval_poses(200, seed=7):
        ahead = [(x + s * math.cos(th), y + s * math.sin(th)) for s in np.linspace(0, room_m, 30)]
        if all(contact_gap(lg.garden, px, py) > 0.05 for px, py in ahead) and \
                all(math.hypot(x - m.x_m, y - m.y_m) > m.radius_m + room_m for m in lg.garden.mud):
            return x, y, th
    raise AssertionError("no open spot")


def facing(lg: LiveGarden, cx: float, cy: float, reach_m: float, start_m: float):
    """A pose ``start_m`` from (cx, cy) looking at it, free of contacts for ``reach_m`` ahead."""
    for a in np.linspace(0, 2 * math.pi, 24, endpoint=False):
        x, y = cx + start_m * math.cos(a), cy + start_m * math.sin(a)
        th = a + math.pi
        line = [(x + s * math.cos(th), y + s * math.sin(th)) for s in np.linspace(0, reach_m, 40)]
        if all(contact_gap(lg.garden, px, py) > 0.01 for px, py in line):
            return x, y, th
    raise AssertionError("no free approach")


def test_driving_straight_moves_the_pose_by_v_dt(g):
    x, y, th = open_spot(g)
    g.place((x, y, th))
    t0 = g.t
    r = g.step(0.25, 0.25, 0.4)
    assert isinstance(r, StepResult)
    assert r.pose == g.pose
    assert r.pose[:2] == pytest.approx((x + 0.1 * math.cos(th), y + 0.1 * math.sin(th)))
    assert r.pose[2] == pytest.approx(th)
    assert r.moved_m == pytest.approx(0.1)
    assert (r.wheel_left_m, r.wheel_right_m) == pytest.approx((0.1, 0.1))
    assert not r.bumper and not r.stall and r.slip == 0.0
    assert g.t == pytest.approx(t0 + 0.4)
    back = g.step(-0.25, -0.25, 0.4)
    assert back.pose[:2] == pytest.approx((x, y)) and back.wheel_left_m == pytest.approx(-0.1)


def test_turning_on_the_spot_and_along_an_arc(g):
    x, y, th = open_spot(g)
    g.place((x, y, th))
    r = g.step(-0.15, 0.15, 1.0)  # turn rate 0.3 / WHEEL_BASE_M = 1 rad/s, counter-clockwise
    assert r.pose[:2] == pytest.approx((x, y))
    assert math.remainder(r.pose[2] - th - 0.3 / WHEEL_BASE_M, 2 * math.pi) == pytest.approx(0)
    assert r.moved_m == pytest.approx(0.0, abs=1e-12)
    g.place((x, y, th))
    r = g.step(0.1, 0.2, 1.0)  # arc: 0.15 m at 1/3 rad/s, radius 0.45 m, to the left
    dth = 0.1 / WHEEL_BASE_M
    radius = 0.15 / dth
    assert r.pose[:2] == pytest.approx((x + radius * (math.sin(th + dth) - math.sin(th)),
                                        y - radius * (math.cos(th + dth) - math.cos(th))))
    assert r.moved_m == pytest.approx(0.15)


def test_driving_into_an_obstacle_stops_at_contact_and_never_passes_through(g):
    stone = next(ob for ob in g.garden.obstacles if ob.kind == "stone")
    part = stone.contacts[0]
    pose = facing(g, part.x_m, part.y_m, reach_m=0.6, start_m=1.2)
    g.place(pose)
    results = [g.step(0.3, 0.3, 0.1) for _ in range(60)]  # 1.8 m of commands, 1.2 m away
    gaps = [contact_gap(g.garden, *r.pose[:2]) for r in results]
    assert min(gaps) >= 0.0  # never inside
    hit = next(i for i, r in enumerate(results) if r.bumper)
    assert all(r.stall for r in results[hit + 1:])
    assert all(r.bumper for r in results[hit:])
    assert 0.0 <= gaps[-1] <= CONTACT_TOL_M
    assert results[-1].pose == pytest.approx(results[hit].pose, abs=1e-5)
    assert results[-1].moved_m < 1e-5 and results[-1].wheel_left_m < 1e-5
    # travelled what the free line allowed, no further
    travelled = sum(r.moved_m for r in results)
    assert travelled < 1.2
    away = g.step(-0.2, -0.2, 0.5)
    assert not away.bumper and not away.stall and away.moved_m == pytest.approx(0.1)


def test_the_fence_blocks_too(g):
    y = g.garden.height_m / 2
    g.place((g.garden.width_m - 0.5, y, 0.0))
    if contact_gap(g.garden, g.garden.width_m - 0.5, y) < 0.25:
        pytest.skip("something stands by the fence here")
    r = g.step(0.5, 0.5, 2.0)  # one long interval, far beyond the fence
    assert r.bumper and r.stall
    assert r.pose[0] <= g.garden.width_m - ROBOT_RADIUS_M


def test_mud_makes_the_wheels_slip(g):
    m = g.garden.mud[0]  # wet autumn: mud slips
    g.place((m.x_m, m.y_m, 0.0))
    r = g.step(0.2, 0.2, 0.5)
    assert 0.0 < r.slip < 1.0
    assert r.wheel_left_m == pytest.approx(0.1)  # the encoders count the spinning
    assert r.moved_m == pytest.approx(0.1 * (1 - r.slip))


def test_beds_do_not_block_but_are_reported(g):
    bed = g.garden.beds[0]
    probe = bed.probes[0]
    assert g.in_bed(probe.x_m, probe.y_m) and g.zone_at(probe.x_m, probe.y_m) == 0
    dock = g.start_pose
    assert not g.in_bed(dock[0], dock[1]) and g.zone_at(dock[0], dock[1]) is None
    pose = facing(g, probe.x_m, probe.y_m, reach_m=1.0, start_m=1.0)
    g.place(pose)
    for _ in range(10):
        r = g.step(0.2, 0.2, 0.5)
        assert not r.stall
    assert g.in_bed(*g.pose[:2])


def test_view_is_a_camera_frame_with_labels(g):
    image, labels = g.view()
    cam = g.camera
    assert image.shape == (cam.height, cam.width, 3) and image.dtype == np.uint8
    assert labels.shape == (cam.height, cam.width) and labels.dtype == np.uint8
    assert 20 < image.mean() < 235 and image.std() > 5


def test_an_obstacle_close_ahead_shows_in_the_labels(g):
    stone = next(ob for ob in g.garden.obstacles if ob.kind == "stone")
    part = stone.contacts[0]
    g.place(facing(g, part.x_m, part.y_m, reach_m=0.3, start_m=0.9))
    _, labels = g.view()
    h, w = labels.shape
    middle = labels[h // 3:, w // 3: 2 * w // 3]
    assert (middle == OBSTACLE).mean() > 0.1
    g.place((g.pose[0], g.pose[1], g.pose[2] + math.pi))  # turned away: no stone in the middle
    _, away = g.view()
    assert (away[h // 3:, w // 3: 2 * w // 3] == OBSTACLE).mean() < (middle == OBSTACLE).mean()


def test_set_season_keeps_pose_and_layout_but_changes_the_look():
    lg = LiveGarden("g07", "summer", seed=2)
    lg.step(0.2, 0.25, 0.5)
    pose, garden, zones = lg.pose, lg.garden, lg.zones()
    summer, summer_labels = lg.view()
    lg.set_season("winter")
    assert lg.season == "winter" and lg.name == "g07 winter"
    assert lg.pose == pose and lg.garden is garden and lg.zones() == zones
    winter, winter_labels = lg.view()
    assert np.abs(winter.astype(int) - summer.astype(int)).mean() > 10
    same = (winter_labels == summer_labels).mean()
    assert same > 0.8  # the ground is where it was; only the plants shrank
    with pytest.raises(ValueError, match="season"):
        lg.set_season("monsoon")
    assert lg.season == "winter"


def test_beds_dry_with_time_and_watering_raises_them():
    lg = LiveGarden("g07", "summer")
    start = lg.moisture_permille()
    assert len(start) == N_ZONES and all(isinstance(v, int) and 0 < v < 1000 for v in start)
    for _ in range(6):
        lg.step(0.0, 0.0, 100.0)
    dried = lg.moisture_permille()
    assert all(d < s for d, s in zip(dried, start, strict=True))
    lg.water(1, 20.0)
    watered = lg.moisture_permille()
    assert watered[1] > dried[1] + 50
    assert watered[0] == dried[0] and watered[2:] == dried[2:]
    assert lg.watered_s[1] == 20.0
    with pytest.raises(ValueError, match="zone"):
        lg.water(N_ZONES, 1.0)


def test_zones_are_the_recordings_zones(live):
    spec = RecordingSpec("g06", "autumn", seconds=1.0)
    meta = recording_meta(spec, live.garden, live.world)
    assert live.zones() == [z.zone for z in zones_of(meta)]
    assert [z.id for z in live.zones()] == list(range(N_ZONES))


def test_eval_views_stand_at_the_same_poses_in_every_season(live):
    summer = LiveGarden("g06", "summer", seed=5)
    assert summer.eval_poses(6, seed=3) == live.eval_poses(6, seed=3)
    assert summer.eval_poses(6, seed=3) != summer.eval_poses(6, seed=4)
    a, b = summer.eval_views(6, seed=3), live.eval_views(6, seed=3)
    assert len(a) == len(b) == 6
    for (img_a, lab_a), (img_b, lab_b) in zip(a, b, strict=True):
        assert img_a.shape == img_b.shape and img_a.dtype == np.uint8
        # plants grow and shrink with the season; the rest of the ground stays put
        merge = np.arange(256, dtype=np.uint8)
        merge[PLANT] = SOIL
        assert (merge[lab_a] == merge[lab_b]).mean() > 0.97
    again = live.eval_views(6, seed=3)
    assert all((x[0] == y[0]).all() for x, y in zip(again, b, strict=True))
    for x, y, _ in live.eval_poses(30, seed=3):
        assert contact_gap(live.garden, x, y) > 0 and not live.in_bed(x, y)


def test_start_pose_is_reproducible_and_free(live):
    again = LiveGarden("g06", "winter", seed=0)
    assert again.start_pose == live.start_pose
    x, y, _ = live.start_pose
    assert contact_gap(live.garden, x, y) > 0.3 and not live.in_bed(x, y)
    assert LiveGarden("g06", "autumn", seed=1).start_pose != live.start_pose


def test_lawn_mask_matches_the_painted_lawn(live):
    mask, res = live.lawn_mask()
    classes = live.world.ground_classes
    step = round(res / 0.01)
    painted = classes[step // 2::step, step // 2::step] == LAWN
    h, w = min(mask.shape[0], painted.shape[0]), min(mask.shape[1], painted.shape[1])
    assert (mask[:h, :w] == painted[:h, :w]).mean() > 0.95
    assert 0.3 < mask.mean() < 0.95


def test_bad_garden_or_season_is_a_clear_error():
    with pytest.raises(ValueError, match="garden"):
        LiveGarden("garden7", "autumn")
    with pytest.raises(ValueError, match="season"):
        LiveGarden("g06", "monsoon")
