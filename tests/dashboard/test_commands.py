"""Manual watering rules, the bounded command queue, and editing [watering] in the file."""

from __future__ import annotations

from datetime import datetime

import pytest

from robot.acting.config import WateringConfig, Zone
from robot.common.errors import ConfigError
from robot.dashboard.commands import (
    CommandQueue,
    CommandRefused,
    OwnerCommand,
    QueueFull,
    edit_watering,
    manual_water,
)
from robot.runtime.config import parse_config

ZONES = (Zone(1, 0.0, 0.0), Zone(3, 1.0, 1.0))
NOON, NIGHT = datetime(2026, 6, 1, 12, 0), datetime(2026, 6, 1, 23, 30)


def test_manual_watering_keeps_quiet_hours_known_zones_and_the_clamp():
    cfg = WateringConfig(quiet_hours="22:00-07:00", duration_ms=4000, max_duration_ms=10000)
    with pytest.raises(CommandRefused, match="quiet hours"):
        manual_water(1, None, ZONES, NIGHT, cfg)
    with pytest.raises(CommandRefused, match="zone 2 is not a watering zone"):
        manual_water(2, None, ZONES, NOON, cfg)
    with pytest.raises(CommandRefused, match="must be > 0"):
        manual_water(1, 0, ZONES, NOON, cfg)
    assert manual_water(3, None, ZONES, NOON, cfg).duration_ms == 4000
    clamped = manual_water(3, 99_000, ZONES, NOON, cfg)
    assert clamped.duration_ms == 10000 and clamped.reason.endswith("+clamped")


def test_the_queue_refuses_when_full_instead_of_growing():
    q = CommandQueue(capacity=2)
    q.put(OwnerCommand("stop"))
    q.put(OwnerCommand("resume"))
    with pytest.raises(QueueFull):
        q.put(OwnerCommand("retrain"))
    assert [p.command.kind for p in q.take(10)] == ["stop", "resume"]
    with pytest.raises(CommandRefused, match="unknown command 'dance'"):
        OwnerCommand("dance")


def test_editing_watering_keeps_comments_and_other_sections():
    text = ("# garden config\n[policy]\nmax_speed_mps = 0.3\n\n[watering]\n# owner's note\n"
            "interval_h = 24.0\n\n[[watering.zones]]\nid = 1\nx_m = 1.0\ny_m = 2.0\n")
    new = edit_watering(text, {"interval_h": 6.0, "quiet_hours": ""})
    assert "# owner's note" in new and "# garden config" in new
    cfg = parse_config(new)
    assert cfg.watering.interval_h == 6.0 and cfg.watering.quiet_hours == ""
    assert cfg.policy.max_speed_mps == 0.3 and cfg.watering.zones[0].id == 1
    assert parse_config(edit_watering("", {"duration_ms": 700})).watering.duration_ms == 700
    with pytest.raises(ConfigError, match="not editable"):
        edit_watering(text, {"max_duration_ms": 1})
