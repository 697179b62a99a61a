"""From ``gardenbot.toml`` to what the running robot needs — in one place.

- :func:`learner_settings` maps the ``[learner]`` and ``[triggers]`` sections onto the learner's
  own dataclasses (robot/learning/config.py). The config declares its defaults *from* those
  dataclasses, so there is one copy of every default.
- :func:`prepare_data_dir` makes the data folder usable: a fresh folder is seeded with the
  shipped starting adapter and replay buffer (models/default), which must belong to the
  backbone in use.
- :func:`open_backbone` loads the configured (or given) backbone card.
- :func:`open_parts` does all of that and opens perception and the replay buffer: what
  `gardenbot run`, `gardenbot simulate` and the loop benchmark start from.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from robot.common.errors import ModelError, ReplayBufferError, StoreError
from robot.learning.config import (
    BufferConfig,
    LearnerProcessConfig,
    LearnerSettings,
    PublishConfig,
    TrainConfig,
    TrialConfig,
    TriggerConfig,
)
from robot.learning.paths import LearnerPaths
from robot.runtime.config import Config
from robot.runtime.learning import Memory

log = logging.getLogger(__name__)


def learner_settings(cfg: Config) -> LearnerSettings:
    """The learner's configs from the robot's config; keys not in the TOML keep the learner's
    defaults."""
    lc, tc = cfg.learner, cfg.triggers
    defaults = TriggerConfig()
    return LearnerSettings(
        buffer=BufferConfig(capacity_bytes=lc.buffer_bytes),
        train=TrainConfig(strategy=lc.strategy),
        publish=PublishConfig(margin=lc.publish_margin, drivable_margin=lc.drivable_margin),
        process=LearnerProcessConfig(nice_increment=lc.nice),
        triggers=replace(
            defaults, schedule=tc.schedule, min_new_samples=lc.min_new_samples,
            button_pin=f"GPIO{tc.button_pin}" if tc.button_pin >= 0 else "",
            drift_novelty=tc.drift_novelty or defaults.drift_novelty,
            drift_fraction=tc.drift_fraction, drift_share=tc.drift_share,
            drift_sessions=tc.drift_sessions, drift_sustain_s=tc.drift_hold_s,
            hold_unconfirmed=tc.hold_unconfirmed, settle_nights=tc.settle_nights,
            bump_alarm=tc.bump_alarm, bump_window=tc.bump_window,
            bump_slow_mps=tc.bump_slow_mps, bump_clear_m=tc.bump_clear_m,
            bump_hold=tc.bump_hold),
        drift_alarm=tc.drift_novelty > 0,
        trial=TrialConfig(frames=lc.trial_frames, stop_margin=lc.trial_stop_margin,
                          bump_margin=lc.trial_bump_margin),
    )


def shipped_defaults_dir() -> Path:
    from models import MODELS_DIR

    return MODELS_DIR / "default"


def defaults_dir(cfg: Config) -> Path:
    return cfg.resolve(cfg.paths.defaults_dir) if cfg.paths.defaults_dir else \
        shipped_defaults_dir()


def card_path(cfg: Config, override: str | Path | None = None) -> Path | None:
    """The backbone card to load: ``override``, else the config's, else None (the shipped)."""
    if override:
        return Path(override)
    return cfg.resolve(cfg.perception.model_card) if cfg.perception.model_card else None


def open_backbone(cfg: Config, override: str | Path | None = None):  # -> Backbone
    from robot.seeing.backbone import Backbone

    return Backbone(card_path(cfg, override), cfg.perception.variant, cfg.perception.threads)


@dataclass(frozen=True)
class RobotParts:
    """The backbone, the data folder, the learner's settings, perception and the buffer."""

    backbone: Any  # robot.seeing.backbone.Backbone
    paths: LearnerPaths
    settings: LearnerSettings
    perception: Any  # robot.seeing.perception.Perception
    memory: Memory

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.perception.classifier.classes)


def open_parts(cfg: Config, data_dir: Path, defaults: Path,
               card: str | Path | None = None) -> RobotParts:
    """Open what the control loop runs on, in order: the backbone, the data folder (seeded
    from ``defaults`` when new), perception on the current adapter, the replay buffer."""
    from robot.seeing.perception import Perception, StoreClassifier

    backbone = open_backbone(cfg, card)
    paths = prepare_data_dir(data_dir, defaults, backbone.backbone_id, backbone.feature_dim)
    settings = learner_settings(cfg)
    perception = Perception(backbone, StoreClassifier.open(paths.store, backbone))
    memory = Memory.open(paths.buffer, paths.store, backbone.backbone_id, backbone.feature_dim,
                         perception.classifier.classes, settings)
    return RobotParts(backbone, paths, settings, perception, memory)


def prepare_data_dir(data_dir: Path, defaults: Path, backbone_sha256: str,
                     feature_dim: int) -> LearnerPaths:
    """The data folder's paths; a folder without an adapter store is seeded from ``defaults``.

    Raises ModelError when the store (seeded or the robot's own) holds no adapter usable with
    this backbone — with the command that makes one — and ReplayBufferError for a buffer of
    another backbone.
    """
    from robot.adapter.store import AdapterStore
    from robot.learning.replay_buffer import ReplayBuffer

    paths = LearnerPaths(Path(data_dir))
    store = AdapterStore(paths.store, backbone_sha256=backbone_sha256, feature_dim=feature_dim)
    if store.current_version() is None:
        seed = LearnerPaths(defaults)
        if not (seed.store / "current.json").is_file():
            raise ModelError(
                f"{paths.store}: no adapter yet, and no starting adapter in {defaults} to copy "
                "(make one with `gardenbot defaults --benchmark DIR`)")
        paths.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(seed.store, paths.store, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".*"))
        if seed.buffer.is_file() and not paths.buffer.exists():
            shutil.copy2(seed.buffer, paths.buffer)
        log.info("data folder %s seeded from %s", paths.data_dir, defaults)
    try:
        store.load()
    except (ModelError, StoreError) as e:
        raise ModelError(
            f"{e}. The adapters in {paths.store} do not fit the backbone in use "
            f"({backbone_sha256[:12]}…); regenerate the defaults with `gardenbot defaults "
            "--benchmark DIR` for this backbone, or use another data folder") from None
    if paths.buffer.exists():
        try:
            ReplayBuffer.load(paths.buffer, backbone_sha256=backbone_sha256,
                              feature_dim=feature_dim)
        except ReplayBufferError as e:
            raise ReplayBufferError(f"{e} (regenerate the defaults for this backbone with "
                                    "`gardenbot defaults`)") from None
    return paths
