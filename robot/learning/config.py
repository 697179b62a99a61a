"""Configuration of the learner, the replay buffer, publishing and the retrain triggers.

Two kinds of frozen dataclasses, both torch-free (the runtime builds them without importing the
learner):

- the learner's own settings (:class:`BufferConfig`, :class:`TrainConfig`,
  :class:`PublishConfig`, :class:`LearnerProcessConfig`, :class:`TriggerConfig`, gathered in
  :class:`LearnerSettings`), validated on construction (a ConfigError names the field); fields
  are flat and carry their units;
- the ``[learner]``, ``[triggers]`` and ``[experience]`` sections of gardenbot.toml, declared
  with :func:`robot.common.schema.setting`. The TOML keys have their own names; the first two
  sections take their defaults from the learner's settings above, and
  robot/runtime/settings.py maps their keys onto them field by field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from robot.common.errors import ConfigError
from robot.common.schema import in_range, non_negative, one_of, positive, setting
from robot.learning.schedule import parse_schedule

DEFAULT_BUFFER_BYTES = 4_000_000

# The names of the strategies, known here without importing torch
# (robot/learning/learner/strategies.py holds the implementations; a test keeps the two in step).
STRATEGY_NAMES: tuple[str, ...] = (
    "finetune", "replay", "ewc", "lwf", "agem", "bank", "slda", "ncm", "joint",
)
BUFFER_POLICIES: tuple[str, ...] = ("balanced", "reservoir")
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")


def _check(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"{key}: {msg}")


@dataclass(frozen=True)
class BufferConfig:
    """The replay buffer: what it may hold and how it chooses."""

    capacity_bytes: int = DEFAULT_BUFFER_BYTES  # whole file, header and metadata included
    policy: str = "balanced"  # "balanced" (class x season) or "reservoir" (plain)
    validation_fraction: float = 0.125  # share of cells held out for publish validation

    def __post_init__(self) -> None:
        _check(self.capacity_bytes >= 65_536, "capacity_bytes", "must be at least 65536")
        _check(self.policy in BUFFER_POLICIES, "policy",
               f"unknown {self.policy!r}; one of {', '.join(BUFFER_POLICIES)}")
        _check(0.0 <= self.validation_fraction < 0.5, "validation_fraction",
               "must be in [0, 0.5)")


BOTTLENECK = 32  # the adapter's bottleneck width (TrainConfig.width)
REHEARSAL_BOTTLENECK = 64  # ... for a strategy that trains on remembered cells
REHEARSAL_STRATEGIES = frozenset({"replay", "agem", "joint"})


@dataclass(frozen=True)
class TrainConfig:
    """Training of one adapter version (shared by every strategy; each reads what it needs)."""

    strategy: str = "replay"
    steps: int = 300  # optimiser steps per retrain, whatever the data size: bounded time
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    bottleneck_dim: int = 0  # width of each cell's adapter bottleneck; 0 = the strategy's own
    # (REHEARSAL_BOTTLENECK for those that rehearse old cells, else BOTTLENECK: see width())
    replay_batch_size: int = 256  # remembered cells added to each batch of new cells (replay)
    replay_class_prior: str = "new"  # class mix of remembered cells: "new" (as the new) or "buffer"
    replay_distill: float = 0.03  # replay: weight of the parent's logits on remembered cells
    carry_optimizer: bool = True  # continue Adam's moments from the parent's state
    lr_schedule: str = "constant"  # "constant" or "cosine" (to 0 over each retrain's steps)
    weight_average: float = 0.0  # EMA decay of the weights kept as the result (0 = off)
    class_balanced: bool = False  # draw batches with equal weight per class (else uniform)
    ewc_lambda: float = 200.0  # EWC penalty λ/2·ΣF·Δθ², the literature's λ (docs/learner.md)
    ewc_decay: float = 0.9  # online EWC: old Fisher information is multiplied by this
    lwf_alpha: float = 0.125  # weight of the distillation loss (times T²: 0.5·KL at T = 2)
    lwf_temperature: float = 2.0
    slda_shrinkage: float = 1e-2  # covariance shrinkage towards the identity
    prototypes_per_class: int = 4  # novelty prototypes (k-means centres) per class
    novelty_quantile: float = 0.95  # known cells below this quantile score novelty < 1
    torch_threads: int = 1

    def width(self) -> int:
        """The adapter's bottleneck width for a fresh adapter of this strategy. Measured on the
        full synthetic benchmark (docs/benchmarks.md, "Recipe"): the strategies that rehearse
        old cells (replay, agem, joint) gain from 64 channels, room for the new season beside
        the old answers; the ones that do not (finetune, ewc, lwf) only forget more with it."""
        if self.bottleneck_dim:
            return self.bottleneck_dim
        return REHEARSAL_BOTTLENECK if self.strategy in REHEARSAL_STRATEGIES else BOTTLENECK

    def __post_init__(self) -> None:
        _check(self.strategy in STRATEGY_NAMES, "strategy",
               f"unknown {self.strategy!r}; one of {', '.join(STRATEGY_NAMES)}")
        _check(self.steps >= 1, "steps", "must be >= 1")
        _check(self.batch_size >= 2, "batch_size", "must be >= 2")
        _check(self.learning_rate > 0, "learning_rate", "must be > 0")
        _check(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        _check(self.bottleneck_dim >= 0, "bottleneck_dim", "must be >= 0 (0 = the strategy's)")
        _check(self.replay_batch_size >= 0, "replay_batch_size", "must be >= 0")
        _check(self.replay_distill >= 0, "replay_distill", "must be >= 0")
        _check(self.replay_class_prior in ("buffer", "new"), "replay_class_prior",
               f"unknown {self.replay_class_prior!r}; one of buffer, new")
        _check(self.lr_schedule in LR_SCHEDULES, "lr_schedule",
               f"unknown {self.lr_schedule!r}; one of {', '.join(LR_SCHEDULES)}")
        _check(0.0 <= self.weight_average < 1.0, "weight_average", "must be in [0, 1)")
        _check(self.ewc_lambda >= 0, "ewc_lambda", "must be >= 0")
        _check(0.0 <= self.ewc_decay <= 1.0, "ewc_decay", "must be in [0, 1]")
        _check(self.lwf_alpha >= 0, "lwf_alpha", "must be >= 0")
        _check(self.lwf_temperature > 0, "lwf_temperature", "must be > 0")
        _check(0.0 < self.slda_shrinkage < 1.0, "slda_shrinkage", "must be in (0, 1)")
        _check(self.prototypes_per_class >= 1, "prototypes_per_class", "must be >= 1")
        _check(0.5 <= self.novelty_quantile < 1.0, "novelty_quantile", "must be in [0.5, 1)")
        _check(self.torch_threads >= 1, "torch_threads", "must be >= 1")


@dataclass(frozen=True)
class PublishConfig:
    """When a freshly trained adapter may replace the current one."""

    margin: float = 0.01  # candidate may score at most this much below the current (0..1)
    keep_versions: int = 20  # older versions beyond this are pruned (never the current one)
    # on the held-out cells its parent never saw, the candidate's balanced traversability (drive
    # on known-drivable, stop for known-blocked ground) may be at most this much below the
    # current adapter's (robot/adapter/store.py _less_safe); 1 = off
    drivable_margin: float = 0.05

    def __post_init__(self) -> None:
        _check(0.0 <= self.margin <= 1.0, "margin", "must be in [0, 1]")
        _check(0.0 <= self.drivable_margin <= 1.0, "drivable_margin", "must be in [0, 1]")
        _check(self.keep_versions >= 2, "keep_versions", "must be >= 2")


@dataclass(frozen=True)
class TrialConfig:
    """A newly published adapter drives on trial: it goes back to its parent when it drives
    clearly worse than the parent did (robot/learning/trial.py)."""

    frames: int = 600  # camera frames of driving the trial lasts (a minute at 10 fps); 0 = off
    stop_margin: float = 0.30  # roll back when it stops on this much more of the same frames
    bump_margin: float = 1.0  # ... or bumps this many more times per 100 m than the parent
    min_bumps: int = 2  # ... and at least this many times (one bump is not evidence)

    def __post_init__(self) -> None:
        _check(self.frames >= 0, "frames", "must be >= 0 (0 = no trial)")
        _check(0.0 < self.stop_margin <= 1.0, "stop_margin", "must be in (0, 1]")
        _check(self.bump_margin >= 0.0, "bump_margin", "must be >= 0")
        _check(self.min_bumps >= 1, "min_bumps", "must be >= 1")


@dataclass(frozen=True)
class LearnerProcessConfig:
    """The background learner process."""

    nice_increment: int = 10  # added to the process's niceness (0..19): the control loop wins
    cancel_grace_s: float = 5.0  # after a cancel request, kill the process if it is still alive

    def __post_init__(self) -> None:
        _check(0 <= self.nice_increment <= 19, "nice_increment", "must be in 0..19")
        _check(self.cancel_grace_s > 0, "cancel_grace_s", "must be > 0")


@dataclass(frozen=True)
class TriggerConfig:
    """What starts a retrain besides the CLI."""

    schedule: str = "nightly at 02:00"  # a phrase of robot/learning/schedule.py; "off" disables
    min_new_samples: int = 500  # schedule and drift retrain only with this many new labels
    button_pin: str = ""  # gpiozero pin name, e.g. "GPIO17"; "" = no button
    button_bounce_s: float = 0.05
    # The drift alarm (robot/learning/triggers.py DriftMonitor). Evidence is counted per session
    # of driving, not wall-clock time: the robot sees its garden a few minutes a day. Defaults
    # chosen on training gardens with `gardenbot bench drift` (docs/learner.md, the curve in
    # docs/benchmarks.md).
    drift_novelty: float = 0.8  # a cell is novel when its novelty exceeds this
    drift_fraction: float = 0.4  # a frame is novel when more than this share of its cells are
    drift_share: float = 0.5  # a session is novel when at least this share of its frames are
    drift_sessions: int = 2  # this many novel sessions in a row raise the alarm
    drift_sustain_s: float = 30.0  # a session counts once it has this much driving
    drift_gap_s: float = 1800.0  # a longer gap between frames ends a session (docked)
    drift_block_s: float = 1800.0  # a session is cut after this much driving (never docks)
    drift_cooldown_s: float = 3600.0  # no second alarm sooner than this
    # The schedule's gate (ScheduleGate): a night waits while a change is unconfirmed; with
    # settle_nights > 0 it retrains only on that many due times after a drift alarm.
    hold_unconfirmed: bool = True
    settle_nights: int = 3
    # The bump alarm (robot/learning/triggers.py BumpAlarm): this many bumper closings outside
    # probes within bump_window frames of one adapter request a retrain at once; 0 = off.
    bump_alarm: int = 3
    bump_window: int = 600  # camera frames (a minute at 10 fps)
    # After the bump alarm the robot drives no faster than bump_slow_mps until another adapter
    # drives or this one has driven bump_clear_m without a bump; bump_slow_mps 0 = full speed.
    bump_slow_mps: float = 0.12
    bump_clear_m: float = 30.0
    bump_hold: bool = False  # stand still while the alarm's retrain runs, then drive slowly

    def __post_init__(self) -> None:
        try:  # the parser is the validator
            parse_schedule(self.schedule)
        except ValueError as e:
            raise ConfigError(f"schedule: {e}") from None
        _check(self.min_new_samples >= 0, "min_new_samples", "must be >= 0")
        _check(self.button_bounce_s >= 0, "button_bounce_s", "must be >= 0")
        _check(self.drift_novelty > 0, "drift_novelty", "must be > 0")
        _check(0.0 <= self.drift_fraction < 1.0, "drift_fraction",
               f"must be in [0, 1), got {self.drift_fraction!r}")
        _check(0.0 < self.drift_share <= 1.0, "drift_share",
               f"must be in (0, 1], got {self.drift_share!r}")
        _check(isinstance(self.drift_sessions, int) and self.drift_sessions >= 1,
               "drift_sessions", f"must be a whole number >= 1, got {self.drift_sessions!r}")
        _check(self.drift_sustain_s >= 0, "drift_sustain_s",
               f"must be >= 0 seconds, got {self.drift_sustain_s!r}")
        _check(self.drift_gap_s > 0, "drift_gap_s",
               f"must be > 0 seconds, got {self.drift_gap_s!r}")
        _check(self.drift_block_s > 0, "drift_block_s",
               f"must be > 0 seconds, got {self.drift_block_s!r}")
        _check(self.drift_cooldown_s >= 0, "drift_cooldown_s", "must be >= 0")
        _check(isinstance(self.settle_nights, int) and self.settle_nights >= 0,
               "settle_nights", f"must be a whole number >= 0, got {self.settle_nights!r}")
        _check(self.bump_alarm >= 0, "bump_alarm", "must be >= 0 (0 = off)")
        _check(self.bump_window >= 1, "bump_window", "must be >= 1 frame")
        _check(self.bump_slow_mps >= 0, "bump_slow_mps", "must be >= 0 m/s (0 = full speed)")
        _check(self.bump_clear_m > 0, "bump_clear_m", "must be > 0 m")


@dataclass(frozen=True)
class LearnerSettings:
    """All of the learner's settings, as the runtime hands them to the loop's learning steps."""

    buffer: BufferConfig
    train: TrainConfig
    publish: PublishConfig
    process: LearnerProcessConfig
    triggers: TriggerConfig
    drift_alarm: bool  # False when [triggers] drift_novelty = 0
    trial: TrialConfig = TrialConfig()


def schedule_phrase(v: str) -> str | None:
    try:
        parse_schedule(v)
    except ValueError as e:
        return str(e)
    return None


def _file_name(v: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", v):
        return "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    return None


def _number_above_zero_or_off(v: float) -> str | None:
    return None if v >= 0 else "must be > 0, or 0 for off"


# --- the [learner], [triggers] and [experience] sections of gardenbot.toml ------------------------

# [learner] and [triggers] take their defaults from the learner's own dataclasses above;
# robot/runtime/settings.py maps the keys onto them.
_BUFFER, _TRAIN, _PUBLISH = BufferConfig(), TrainConfig(), PublishConfig()
_PROCESS, _TRIGGER, _TRIAL = LearnerProcessConfig(), TriggerConfig(), TrialConfig()


@dataclass(frozen=True)
class LearnerConfig:
    """Retraining the adapter on the robot."""

    strategy: str = setting(_TRAIN.strategy, "continual-learning strategy",
                            check=one_of(*STRATEGY_NAMES))
    buffer_bytes: int = setting(_BUFFER.capacity_bytes, "replay buffer capacity on disk",
                                "bytes", in_range(65_536, 2**40))
    min_new_samples: int = setting(_TRIGGER.min_new_samples, "a scheduled or drift retrain "
                                   "runs only with this many new labelled cells", "cells",
                                   non_negative)
    publish_margin: float = setting(_PUBLISH.margin, "publish a new adapter unless it "
                                    "validates worse than the current one by more than this",
                                    "accuracy, 0..1", in_range(0, 1))
    drivable_margin: float = setting(_PUBLISH.drivable_margin, "and only if, on the "
                                     "new held-out cells, its balanced traversability (drive "
                                     "on ground known to be drivable, stop for ground known to "
                                     "be blocked) is at most this much below the current "
                                     "adapter's (1 = not checked)",
                                     "share, 0..1", in_range(0, 1))
    trial_frames: int = setting(_TRIAL.frames, "a newly published adapter drives on trial "
                                "for this many camera frames and goes back to its parent "
                                "when it drives clearly worse (docs/learner.md); 0 = no "
                                "trial", "frames", in_range(0, 10_000_000))
    trial_stop_margin: float = setting(_TRIAL.stop_margin, "on trial, it goes back when it "
                                       "stops on this much larger a share of its frames "
                                       "than its parent, run on the same frames, would have "
                                       "(unless the parent bumped more)", "share, 0..1",
                                       in_range(0.01, 1))
    trial_bump_margin: float = setting(_TRIAL.bump_margin, "on trial, it goes back when it "
                                       "bumps at least twice and this much more often than "
                                       "its parent did over its last 30 m", "bumps per 100 m",
                                       non_negative)
    nice: int = setting(_PROCESS.nice_increment, "OS priority of the learner process (higher "
                        "= lower priority)", "", in_range(0, 19))


@dataclass(frozen=True)
class TriggersConfig:
    """What starts a retrain (besides `gardenbot retrain`)."""

    schedule: str = setting(_TRIGGER.schedule, "when to retrain: \"nightly at HH:MM\", "
                            "\"weekly on sun at HH:MM\", \"every N h\" or \"off\"",
                            check=schedule_phrase)
    button_pin: int = setting(-1, "GPIO (BCM number) of the retrain button; -1 = none", "",
                              in_range(-1, 53))
    drift_novelty: float = setting(_TRIGGER.drift_novelty, "a cell is novel when the "
                                   "adapter's novelty exceeds this (1 = unlike 95% of its "
                                   "training cells); 0 = no drift alarm", "",
                                   _number_above_zero_or_off)
    drift_fraction: float = setting(_TRIGGER.drift_fraction, "a frame is novel when more "
                                    "than this share of its cells is novel", "0..1",
                                    in_range(0.01, 0.99))
    drift_share: float = setting(_TRIGGER.drift_share, "a session of driving is novel when "
                                 "at least this share of its frames is novel", "0..1",
                                 in_range(0.01, 1))
    drift_sessions: int = setting(_TRIGGER.drift_sessions, "this many novel sessions in a "
                                  "row (working days; nights are not counted) raise the "
                                  "drift alarm", "", in_range(1, 1000))
    drift_hold_s: float = setting(_TRIGGER.drift_sustain_s, "a session counts for the drift "
                                  "alarm once it has this much driving", "s", non_negative)
    hold_unconfirmed: bool = setting(_TRIGGER.hold_unconfirmed, "the scheduled retrain waits "
                                     "while the garden has looked new on fewer working days "
                                     "than drift_sessions (one odd day is not learnt)")
    bump_alarm: int = setting(_TRIGGER.bump_alarm, "this many bumps outside probes within "
                              "bump_window frames of one adapter request a retrain at once "
                              "(with min_new_samples new labels; the bumps label the obstacles "
                              "it missed); 0 = off", "bumps", in_range(0, 1000))
    bump_window: int = setting(_TRIGGER.bump_window, "the bump alarm counts over this many "
                               "camera frames", "frames", in_range(1, 10_000_000))
    bump_slow_mps: float = setting(_TRIGGER.bump_slow_mps, "after the bump alarm the robot "
                                   "drives no faster than this until another adapter drives "
                                   "(the retrain published, or a roll-back) or it has driven "
                                   "bump_clear_m without a bump; 0 = full speed", "m/s",
                                   non_negative)
    bump_clear_m: float = setting(_TRIGGER.bump_clear_m, "metres without a bump that end the "
                                  "slow driving after a bump alarm", "m", positive)
    bump_hold: bool = setting(_TRIGGER.bump_hold, "after the bump alarm the robot stands "
                              "still while the retrain it asked for runs, then drives slowly "
                              "(bump_slow_mps) if that retrain was not published")
    settle_nights: int = setting(_TRIGGER.settle_nights, "retrain on schedule only on this "
                                 "many due times after a drift alarm (a new season settling "
                                 "in); 0 = every due time with enough new labels", "",
                                 in_range(0, 1000))


@dataclass(frozen=True)
class ExperienceConfig:
    """Self-supervised labels from telemetry (docs/experience.md)."""

    enabled: bool = setting(True, "turn telemetry into labels for the replay buffer")
    places: bool = setting(True, "a memory of places (what each patch of ground was on "
                           "earlier days, in the odometry frame from the dock) labels a new "
                           "season's frames; on the robot start `gardenbot run` at the dock "
                           "(docs/places.md)")
    garden: str = setting("garden", "this garden's name: the memory of places is kept per "
                          "garden, in <data_dir>/places/<garden>.npz", check=_file_name)
    pseudo: bool = setting(False, "closed loop: confident predictions seen the same from "
                           "several viewpoints become labels, capped (docs/places.md)")
    set_labels: bool = setting(True, "buffer 'traversable' / 'not traversable' as set labels "
                               "(learnt with a partial-label loss, so they can correct the "
                               "adapter); false: keep one only where the adapter's own "
                               "prediction is in the set (confirm-only)")
    min_speed_mps: float = setting(0.05, "slower than this is not 'driving smoothly'", "m/s",
                                   non_negative)
    slip_threshold: float = setting(0.3, "wheel slip above this is slipping: never 'driving "
                                    "smoothly'", "0..1", in_range(0, 1))
    slip_labels: bool = setting(False, "slipping marks the ground under the wheels not "
                                "traversable (off: wheels slip on wet lawn too — measured "
                                "precision 0.00 in the synthetic gardens, docs/experience.md)")
    quiet_window_s: float = setting(0.5, "smooth driving needs no bump, slip or stall this "
                                    "close in time", "s", non_negative)
    sample_spacing_m: float = setting(0.10, "one 'traversable' footprint per this much travel",
                                      "m", positive)
    wheel_patch_m: float = setting(0.10, "depth of ground at the wheel axle that smooth "
                                   "driving or a slip labels", "m", positive)
    obstacle_depth_m: float = setting(0.10, "depth of ground ahead of the bumper marked "
                                      "obstacle on a hit", "m", positive)
    obstacle_width_m: float = setting(0.15, "width of that ground (and of a stall's), centred "
                                      "on the heading (docs/experience.md); 0 = the robot's "
                                      "width", "m", non_negative)
    probe_x_m: float = setting(0.15, "moisture probe position ahead of the axle", "m")
    probe_radius_m: float = setting(0.05, "ground around the probe that its reading labels",
                                    "m", positive)
    horizon_s: float = setting(8.0, "label frames up to this long before the event", "s",
                               positive)
    min_gap_s: float = setting(0.3, "label only frames at least this long before the event",
                               "s", non_negative)
    min_coverage: float = setting(0.5, "label a cell when the footprint covers this share of "
                                  "its ground", "0..1", in_range(0.01, 1))
