"""The ``[policy]`` and ``[watering]`` sections of gardenbot.toml (docs/config.md)."""

from __future__ import annotations

from dataclasses import dataclass

from robot.common.schema import (
    clock_range_or_empty,
    in_range,
    non_negative,
    one_of,
    positive,
    setting,
)


@dataclass(frozen=True)
class PolicyConfig:
    """Driving: from the traversability grid to (v, ω)."""

    max_speed_mps: float = setting(0.4, "top forward speed", "m/s", positive)
    max_omega_radps: float = setting(1.0, "top turn rate", "rad/s", positive)
    min_speed_mps: float = setting(0.05, "slower than this the way counts as blocked (turn or "
                                   "search instead of creeping ever slower)", "m/s",
                                   non_negative)
    slow_down_distance_m: float = setting(1.0, "start slowing when free ground ahead is shorter "
                                          "than this", "m", positive)
    stop_distance_m: float = setting(0.3, "stop when free ground ahead is shorter than this",
                                     "m", positive)
    lookahead_m: float = setting(2.5, "farthest ground the policy looks at", "m", positive)
    clearance_m: float = setting(0.05, "extra room kept on each side of the robot", "m",
                                 non_negative)
    max_heading_deg: float = setting(35.0, "widest direction the robot steers toward",
                                     "degrees", in_range(0, 89))
    steer_gain: float = setting(1.5, "turn rate per radian of heading error", "1/s", positive)
    min_confidence: float = setting(0.8, "a cell below this confidence is unsure; a mean "
                                    "confidence of the ground ahead below it creeps (or stops, "
                                    "with unsure = \"stop\")", "0..1", in_range(0, 1))
    sure_of: str = setting("traversability", "what the confidence is about: "
                           "\"traversability\" (the probability that a cell can be driven on, "
                           "whichever traversable class — a cell torn between lawn and path is "
                           "sure ground) or \"class\" (the top class's probability)", "",
                           one_of("traversability", "class"))
    max_novelty: float = setting(0.0, "a cell whose novelty is above this is unsure too; 0 = "
                                 "novelty is not used", "", non_negative)
    unsure: str = setting("creep", "what unsure ground does: \"creep\" (unsure cells block only "
                          "near confident non-traversable ones; unsure ground ahead slows to "
                          "creep_speed_mps) or \"stop\" (unsure cells block, low mean "
                          "confidence stops)", "", one_of("creep", "stop"))
    unsure_block_share: float = setting(0.25, "with unsure = \"creep\": an unsure cell blocks "
                                        "when at least this share of its 8 neighbours is "
                                        "confidently not traversable (the unsure rim of a bed "
                                        "or a stone)", "0..1", in_range(0, 1))
    creep_speed_mps: float = setting(0.12, "top forward speed over unsure ground", "m/s",
                                     positive)
    creep_distance_m: float = setting(1.0, "unsure cells in the chosen corridor closer than "
                                      "this to the bumper make the robot creep", "m",
                                      non_negative)
    creep_min_cells: int = setting(4, "creep only when at least this many unsure cells lie in "
                                   "the chosen corridor within creep_distance_m", "cells",
                                   in_range(1, 1000))
    block_square: int = setting(2, "a blocked cell blocks only as part of a square of this "
                                "many by this many blocked cells (1 = alone too)", "cells",
                                in_range(1, 4))
    ignore_lone_cells: bool = setting(True, "a blocked cell with no blocked neighbour does not "
                                      "block (one misclassified cell must not stop the robot)")
    command_ttl_ms: int = setting(300, "a drive command expires after this unless renewed",
                                  "ms", in_range(20, 5000))


@dataclass(frozen=True)
class Zone:
    """A watering zone: a circle on the ground in world coordinates."""

    id: int = setting(0, "zone number sent to the pump controller", check=in_range(0, 255),
                      required=True)
    x_m: float = setting(0.0, "centre, world x", "m", required=True)
    y_m: float = setting(0.0, "centre, world y", "m", required=True)
    radius_m: float = setting(0.3, "radius", "m", positive)


@dataclass(frozen=True)
class WateringConfig:
    """When to water: a zone in view, dry, not watered lately, not in quiet hours."""

    interval_h: float = setting(24.0, "least time between two waterings of one zone", "h",
                                non_negative)
    duration_ms: int = setting(5000, "pump on-time per watering", "ms", positive)
    max_duration_ms: int = setting(30000, "safety cap on one pump run (the firmware caps too)",
                                   "ms", positive)
    moisture_threshold: float = setting(0.30, "water when soil moisture is below this", "0..1",
                                        in_range(0, 1))
    quiet_hours: str = setting("22:00-07:00", "local times when the pump stays off; may wrap "
                               "midnight; \"\" = none", "HH:MM-HH:MM", clock_range_or_empty)
    reach_m: float = setting(1.5, "water a zone only when its centre is this close", "m",
                             positive)
    zones: tuple[Zone, ...] = setting((), "watering zones, one [[watering.zones]] table each")


@dataclass(frozen=True)
class ProbeConfig:
    """Probing (robot/acting/probe.py, docs/policy.md): when only unsure or novel cells block
    the way, creep a short way with the bumper as the safety and let the outcome label them."""

    enabled: bool = setting(True, "probe ground the adapter is unsure of or finds novel when "
                            "it is all that blocks the way (false: the robot stops there)")
    speed_mps: float = setting(0.08, "forward speed of a probe (above [experience] "
                               "min_speed_mps, or the drive labels nothing)", "m/s", positive)
    distance_m: float = setting(0.5, "how far one probe drives", "m", positive)
    interval_s: float = setting(1.0, "least loop time from the end of one probe to the start "
                                "of the next", "s", non_negative)
    min_novelty: float = setting(0.85, "a cell whose novelty is above this counts as novel "
                                 "(the adapter's novelty: below 1 looks like its training "
                                 "data; docs/policy.md has the measured spread)", "",
                                 non_negative)
    min_share: float = setting(0.75, "probe only when at least this share of the cells that "
                               "block the way ahead is unsure or novel", "0..1",
                               in_range(0, 1))
    zone_margin_m: float = setting(0.15, "a probe's swept ground keeps this far from every "
                                   "watering zone (a bed)", "m", non_negative)
