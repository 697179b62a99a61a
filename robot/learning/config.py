"""Configuration of the learner, the replay buffer, publishing and the retrain triggers.

Frozen dataclasses, validated on construction (a ConfigError names the field); fields are flat
and carry their units. They are not read from TOML directly: the robot's ``gardenbot.toml``
keys have their own names, and robot/runtime/settings.py maps them onto these classes field by
field. Torch-free: the runtime builds these without importing the learner.
"""

from __future__ import annotations

from dataclasses import dataclass

from robot.errors import ConfigError

DEFAULT_BUFFER_BYTES = 4_000_000

# The names of the strategies, known here without importing torch (robot/learner/strategies.py
# holds the implementations; a test keeps the two in step).
STRATEGY_NAMES: tuple[str, ...] = (
    "finetune", "replay", "ewc", "lwf", "agem", "bank", "slda", "ncm", "joint",
)
BUFFER_POLICIES: tuple[str, ...] = ("balanced", "reservoir")


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


@dataclass(frozen=True)
class TrainConfig:
    """Training of one adapter version (shared by every strategy; each reads what it needs)."""

    strategy: str = "replay"
    steps: int = 300  # optimiser steps per retrain, whatever the data size: bounded time
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    bottleneck_dim: int = 32  # width of the residual bottleneck of each cell's adapter
    replay_fraction: float = 0.5  # share of each batch drawn from the buffer (replay, bank)
    class_balanced: bool = True  # draw batches with equal weight per class
    ewc_lambda: float = 2000.0  # weight of the EWC penalty (Fisher scaled to mean 1)
    ewc_decay: float = 0.9  # online EWC: old Fisher information is multiplied by this
    lwf_alpha: float = 0.5  # weight of the distillation loss
    lwf_temperature: float = 2.0
    slda_shrinkage: float = 1e-2  # covariance shrinkage towards the identity
    prototypes_per_class: int = 4  # novelty prototypes (k-means centres) per class
    novelty_quantile: float = 0.95  # known cells below this quantile score novelty < 1
    torch_threads: int = 1

    def __post_init__(self) -> None:
        _check(self.strategy in STRATEGY_NAMES, "strategy",
               f"unknown {self.strategy!r}; one of {', '.join(STRATEGY_NAMES)}")
        _check(self.steps >= 1, "steps", "must be >= 1")
        _check(self.batch_size >= 2, "batch_size", "must be >= 2")
        _check(self.learning_rate > 0, "learning_rate", "must be > 0")
        _check(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        _check(self.bottleneck_dim >= 1, "bottleneck_dim", "must be >= 1")
        _check(0.0 <= self.replay_fraction < 1.0, "replay_fraction", "must be in [0, 1)")
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

    def __post_init__(self) -> None:
        _check(0.0 <= self.margin <= 1.0, "margin", "must be in [0, 1]")
        _check(self.keep_versions >= 2, "keep_versions", "must be >= 2")


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

    schedule: str = "nightly at 02:00"  # see robot.triggers.parse_schedule; "off" disables
    min_new_samples: int = 500  # schedule and drift retrain only with this many new labels
    button_pin: str = ""  # gpiozero pin name, e.g. "GPIO17"; "" = no button
    button_bounce_s: float = 0.05
    drift_novelty: float = 1.0  # a cell is novel when its novelty exceeds this
    drift_fraction: float = 0.4  # a frame is novel when this share of its cells is novel
    drift_sustain_s: float = 120.0  # novel frames for this long raise the alarm
    drift_cooldown_s: float = 3600.0  # no second alarm sooner than this

    def __post_init__(self) -> None:
        from robot.triggers import parse_schedule  # the parser is the validator

        try:
            parse_schedule(self.schedule)
        except ValueError as e:
            raise ConfigError(f"schedule: {e}") from None
        _check(self.min_new_samples >= 0, "min_new_samples", "must be >= 0")
        _check(self.button_bounce_s >= 0, "button_bounce_s", "must be >= 0")
        _check(self.drift_novelty > 0, "drift_novelty", "must be > 0")
        _check(0.0 < self.drift_fraction <= 1.0, "drift_fraction", "must be in (0, 1]")
        _check(self.drift_sustain_s > 0, "drift_sustain_s", "must be > 0")
        _check(self.drift_cooldown_s >= 0, "drift_cooldown_s", "must be >= 0")

