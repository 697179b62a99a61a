"""The robot's body (the ``[robot]`` section): its size around the middle of the wheel axle.

Read by the policy (the corridor the robot needs) and by the experience labels (the ground the
robot drove over).
"""

from __future__ import annotations

from dataclasses import dataclass

from robot.common.schema import non_negative, positive, setting


@dataclass(frozen=True)
class RobotConfig:
    """The robot's body, relative to the middle of its wheel axle."""

    width_m: float = setting(0.30, "overall width", "m", positive)
    front_m: float = setting(0.20, "axle to front bumper", "m", positive)
    rear_m: float = setting(0.15, "axle to rear end", "m", non_negative)
