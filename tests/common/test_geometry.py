from __future__ import annotations

import numpy as np

from robot.common.geometry import CameraModel, robot_to_world, world_to_robot


def test_ground_projection_round_trips():
    cam = CameraModel.from_fov(320, 240, 70, 0.35, 32)
    grid = cam.ground_grid()
    assert np.isfinite(grid).all(), "with 32 degrees of pitch the whole view is ground"
    uv, depth = cam.ground_to_pixels(grid)
    v, u = np.mgrid[0:240, 0:320] + 0.5
    np.testing.assert_allclose(uv[..., 0], u, atol=1e-6)
    np.testing.assert_allclose(uv[..., 1], v, atol=1e-6)
    assert (depth > 0).all()


def test_bottom_centre_pixel_looks_just_ahead_and_top_looks_far():
    cam = CameraModel.from_fov(320, 240, 70, 0.35, 32)
    near = cam.pixels_to_ground(np.array(160.0), np.array(239.5))
    far = cam.pixels_to_ground(np.array(160.0), np.array(0.5))
    assert 0.1 < near[0] < 0.5 and abs(near[1]) < 1e-9
    assert far[0] > 3.0
    left = cam.pixels_to_ground(np.array(0.5), np.array(120.0))
    assert left[1] > 0, "image left is robot left (+y)"


def test_pixels_above_horizon_are_nan():
    cam = CameraModel.from_fov(320, 240, 70, 0.35, 10)
    assert np.isnan(cam.pixels_to_ground(np.array(160.0), np.array(0.5))).all()


def test_pose_transforms_invert():
    pts = np.array([[1.0, 2.0], [-0.5, 0.3]])
    pose = (3.0, -1.0, 0.7)
    np.testing.assert_allclose(world_to_robot(robot_to_world(pts, pose), pose), pts, atol=1e-12)
    np.testing.assert_allclose(robot_to_world(np.array([1.0, 0.0]), (0, 0, np.pi / 2)), [0, 1],
                               atol=1e-12)
