"""Where the learner's files live on the robot (one data folder; the runtime config may move it).

    <data dir>/replay_buffer.gbrb     the replay buffer
    <data dir>/adapters/              the adapter store
    <data dir>/learner_status.json    the learner process's status
    <data dir>/adapter_trials.json    each adapter's recent driving and trial (learning/trial.py)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_ENV = "GARDENBOT_DATA"


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or Path.home() / ".local/share/gardenbot")


@dataclass(frozen=True)
class LearnerPaths:
    data_dir: Path

    @property
    def buffer(self) -> Path:
        return self.data_dir / "replay_buffer.gbrb"

    @property
    def store(self) -> Path:
        return self.data_dir / "adapters"

    @property
    def status(self) -> Path:
        return self.data_dir / "learner_status.json"

    @property
    def trials(self) -> Path:
        return self.data_dir / "adapter_trials.json"
