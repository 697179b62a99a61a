"""The renderer's label maps agree with the garden's geometry, seen through CameraModel."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robot.common.classes import DEFAULT_CLASSES, UNLABELLED
from robot.common.geometry import CameraModel, robot_to_world, world_to_robot
from tools.garden.generate import RecordingSpec, default_camera, frames
from tools.garden.layout import make_garden
from tools.garden.render import SKY_BGR, GardenRenderer
from tools.garden.texture import RES_M
from tools.garden.world import build_world

OBSTACLE = DEFAULT_CLASSES.index("obstacle")


@pytest.fixture(scope="module")
def summer_g06():
    return build_world("g06", "summer")


def pose_looking_at(world, tx: float, ty: float, dist: float,
                    target_radius: float = 0.0) -> tuple[float, float, float]:
    """A pose ``dist`` from (tx, ty) looking at it, with nothing standing in between."""
    g = world.garden
    for k in range(72):
        a = k * math.pi / 36
        x, y = tx - dist * math.cos(a), ty - dist * math.sin(a)
        if not (0.4 < x < g.width_m - 0.4 and 0.4 < y < g.height_m - 0.4):
            continue
        s = np.linspace(0.0, dist - target_radius - 0.3, 20)
        xs, ys = x + s * math.cos(a), y + s * math.sin(a)
        if (g.obstacle_distance(xs, ys) > 0.25).all():
            return x, y, a
    raise AssertionError("no clear view found")


def test_ground_labels_are_the_class_map_under_each_pixel(summer_g06):
    world = summer_g06
    cam = default_camera()
    renderer = GardenRenderer(world, cam)
    probe = world.garden.beds[0].probes[0]
    pose = pose_looking_at(world, probe.x_m, probe.y_m, dist=1.5)
    _, labels = renderer.render(pose)
    rng = np.random.default_rng(0)
    u = rng.uniform(0, cam.width, 400)
    v = rng.uniform(0, cam.height, 400)
    ground = robot_to_world(cam.pixels_to_ground(u, v), pose)
    cls = world.ground_classes
    g = world.garden
    inside = ((ground[:, 0] > 0) & (ground[:, 1] > 0) & (ground[:, 0] < g.width_m)
              & (ground[:, 1] < g.height_m))
    seen = labels[v.astype(int), u.astype(int)]
    truth = cls[(ground[:, 1] / RES_M).astype(int).clip(0, cls.shape[0] - 1),
                (ground[:, 0] / RES_M).astype(int).clip(0, cls.shape[1] - 1)]
    ground_px = inside & (seen != OBSTACLE)  # standing things may hide the ground
    assert ground_px.sum() > 200
    assert (seen[ground_px] == truth[ground_px]).mean() > 0.98
    assert {DEFAULT_CLASSES.index("soil"), DEFAULT_CLASSES.index("lawn")} <= set(seen.tolist())


def test_a_pot_stands_up_and_its_label_covers_it(summer_g06):
    world = summer_g06
    cam = default_camera()
    ob = next(o for o in world.garden.obstacles if o.kind == "pot")
    (pot,) = ob.parts
    pose = pose_looking_at(world, pot.x_m, pot.y_m, dist=1.2, target_radius=pot.radius_m)
    _image, labels = GardenRenderer(world, cam).render(pose)
    # points on the pot's near side, from its foot to its rim, project onto obstacle pixels
    local = world_to_robot(np.array([pot.x_m, pot.y_m]), pose)
    toward = -local / np.linalg.norm(local)
    side = local + toward * pot.radius_m * 0.98
    heights = np.linspace(0.02, pot.z1_m - 0.02, 12)
    pts = np.array([[side[0], side[1], z] for z in heights])
    uv, depth = cam.points_to_pixels(pts)
    assert (depth > 0).all()
    us, vs = uv[:, 0].astype(int), uv[:, 1].astype(int)
    assert (labels[vs, us] == OBSTACLE).all()
    assert vs[0] - vs[-1] > 15, "the pot's rim is drawn well above its foot: it stands up"
    # and just beside its silhouette there is ground again
    half_width_px = cam.fx * pot.radius_m / float(depth.mean())
    beside = int(us.mean() + 2.5 * half_width_px)
    assert labels[vs[0], min(beside, cam.width - 1)] != OBSTACLE


def test_the_fence_stands_up_at_the_garden_edge(summer_g06):
    world = summer_g06
    g = world.garden
    cam = default_camera()
    y = g.height_m / 2
    pose = (1.2, y, math.pi)  # 1.2 m from the west fence, looking at it
    if g.obstacle_distance(np.linspace(0.2, 1.2, 10), np.full(10, y)).min() < 0.1:
        pytest.skip("something stands in front of the fence here")
    _, labels = GardenRenderer(world, cam).render(pose)
    # the foot of the fence is where the ground at x = 0 projects; above it, all fence
    foot = world_to_robot(np.array([0.0, y]), pose)
    (u, v), _ = cam.ground_to_pixels(foot)
    v = int(v)
    assert 0 < v < cam.height
    assert (labels[: v - 2, int(u)] == OBSTACLE).all()
    assert labels[min(v + 4, cam.height - 1), int(u)] != OBSTACLE


def test_sky_above_the_fence_is_unlabelled():
    world = build_world("g00", "spring")
    g = world.garden
    cam = CameraModel.from_fov(320, 240, 70.0, 0.35, 2.0)  # looking almost level
    pose = (g.width_m / 2, g.height_m / 2, 0.3)
    image, labels = GardenRenderer(world, cam).render(pose)
    assert (labels[0] == UNLABELLED).all()
    assert (image[0] == SKY_BGR).all()
    assert (labels[-1] != UNLABELLED).all()


def test_same_seed_same_frames_and_labels():
    spec = RecordingSpec("g02", "autumn", 1.0, fps=5.0, seed=3)
    a = list(frames(spec))
    b = list(frames(spec))
    assert len(a) == 5
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa.image, fb.image)
        np.testing.assert_array_equal(fa.labels, fb.labels)
        assert fa.telemetry == fb.telemetry


def test_another_seed_gives_another_drive_and_look():
    a = next(iter(frames(RecordingSpec("g02", "autumn", 0.2, fps=5.0, seed=3))))
    b = next(iter(frames(RecordingSpec("g02", "autumn", 0.2, fps=5.0, seed=4))))
    assert a.state.pose != b.state.pose
    assert not np.array_equal(a.image, b.image)


def test_labels_hold_only_known_classes():
    for f in frames(RecordingSpec("g07", "winter", 0.6, fps=5.0)):
        values = set(np.unique(f.labels).tolist())
        assert values <= set(range(len(DEFAULT_CLASSES))) | {UNLABELLED}
        assert f.image.dtype == np.uint8 and f.image.shape == (240, 320, 3)


def test_a_garden_layout_is_the_same_in_every_season():
    g = make_garden("g04")
    for season in ("spring", "winter"):
        assert build_world("g04", season).garden == g
