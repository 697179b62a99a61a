"""What the dashboard and MQTT tell the owner the robot is doing, in words."""

from __future__ import annotations

from robot.dashboard.snapshot import describe_drive


def test_the_owner_reads_the_drive_in_words_and_the_slow_driving_after_bumps():
    assert describe_drive("stop_low_confidence", "mean confidence 0.41 < 0.60") == \
        "stopped: unsure of the ground ahead (mean confidence 0.41 < 0.60)"
    assert describe_drive("cruise+wheel_limit", "") == "driving"
    assert describe_drive("cruise+caution", "") == "driving, slowly after bumps"
    assert describe_drive("cruise+hold", "") == \
        "holding still after bumps until the retrain is in"
    assert describe_drive("", "") == "waiting"
