"""Shared helpers for the learner tests: a synthetic domain stream and a small trained store."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robot.common.classes import DEFAULT_CLASSES
from robot.common.samples import LabelledCells
from robot.learning.replay_buffer import ReplayBuffer
from tools.synthetic_features import DomainStream, make_domain_stream

SHA = "ab" * 32
OTHER_SHA = "cd" * 32
DIM = 32
CLASSES = DEFAULT_CLASSES


def stream(dim: int = DIM, domains: int = 3) -> DomainStream:
    return make_domain_stream(feature_dim=dim, domains=domains, seed=0)


def cells(domain: int, per_class: int, seed: int, dim: int = DIM) -> LabelledCells:
    return stream(dim).sample_balanced(domain, per_class, np.random.default_rng(seed))


def filled_buffer(path: Path | None = None, domains: tuple[int, ...] = (0,),
                  per_class: int = 80, dim: int = DIM) -> ReplayBuffer:
    buf = ReplayBuffer(dim, SHA, CLASSES)
    for d in domains:
        buf.add(cells(d, per_class, seed=100 + d, dim=dim))
    if path is not None:
        buf.save(path)
    return buf
