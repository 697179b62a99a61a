"""The preview sheet reads right: its standing obstacle does not wear a legend colour, and its
header names every column pair."""

from __future__ import annotations

import cv2
import numpy as np

from robot.common.classes import DEFAULT_CLASSES, class_colour
from tools.garden.generate import default_camera
from tools.garden.preview import DEFAULT_GARDENS, preview_poses, view_titles
from tools.garden.render import GardenRenderer
from tools.garden.world import build_world


def _hue(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr.reshape(-1, 1, 3).astype(np.uint8), cv2.COLOR_BGR2HSV)[:, 0]


def test_the_standing_obstacle_does_not_look_like_the_plant_colour_of_the_legend():
    garden = DEFAULT_GARDENS[0]  # the standing view is of the first garden
    [pose] = preview_poses(garden, 1, standing=True)
    image, labels = GardenRenderer(build_world(garden, "summer", 0, 0),
                                   default_camera()).render(pose)
    obstacle = image[labels == DEFAULT_CLASSES.index("obstacle")]
    assert len(obstacle) > 0.02 * labels.size, "an obstacle stands in view"
    hsv = _hue(obstacle)
    plant_hue = int(_hue(np.array(class_colour("plant")))[0, 0])
    near = (np.abs(hsv[:, 0].astype(int) - plant_hue) <= 15) & (hsv[:, 1] > 80)
    assert near.mean() < 0.1, f"{near.mean():.0%} of the obstacle is the legend's plant magenta"


def test_the_header_names_every_pair_of_a_row():
    titles = view_titles(["g06", "g02", "g07"], ["g06"])
    assert titles == ["g06", "g02", "g07", "g06, an obstacle up close"]
