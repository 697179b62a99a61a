"""The robot remembers obstacles it has seen and no longer sees, for a few seconds."""

from __future__ import annotations

import math

import numpy as np

from robot.acting.memory import ObstacleMemory
from robot.common.geometry import CameraModel

CAM = CameraModel()


def test_an_obstacle_seen_twice_is_remembered_once_it_leaves_the_view():
    m = ObstacleMemory(min_votes=2)
    stone = np.array([[0.6, 0.25]])  # ahead and a little to the left
    m.update(0.0, (0.0, 0.0, 0.0), stone)
    m.update(0.1, (0.0, 0.0, 0.0), stone)
    assert len(m.blocked_out_of_view(0.1, (0.0, 0.0, 0.0), CAM)) == 0, "in view: the frame decides"
    # the robot drove 0.45 m on: the stone is now beside its front corner, out of view
    beside = m.blocked_out_of_view(1.0, (0.45, 0.0, 0.0), CAM)
    assert len(beside) == 1
    assert np.allclose(beside[0], [0.15, 0.25], atol=0.1)


def test_one_frame_of_a_phantom_is_not_remembered_and_old_sightings_fade():
    m = ObstacleMemory(min_votes=2, memory_s=5.0)
    m.update(0.0, (0.0, 0.0, 0.0), np.array([[0.6, 0.25]]))
    assert len(m.blocked_out_of_view(0.5, (0.45, 0.0, 0.0), CAM)) == 0
    m.update(0.1, (0.0, 0.0, 0.0), np.array([[0.6, 0.25]]))
    assert len(m.blocked_out_of_view(5.0, (0.45, 0.0, 0.0), CAM)) == 1
    assert len(m.blocked_out_of_view(5.2, (0.45, 0.0, 0.0), CAM)) == 0, "forgotten after 5 s"


def test_memory_is_kept_in_the_world_frame_as_the_robot_turns():
    m = ObstacleMemory(min_votes=1)
    m.update(0.0, (1.0, 1.0, math.pi / 2), np.array([[0.5, 0.0]]))  # facing north: at (1, 1.5)
    [p] = m.blocked_out_of_view(0.1, (1.0, 1.0, math.pi), CAM)  # now facing west
    assert np.allclose(p, [0.0, -0.5], atol=0.08), "to the robot's right"
