"""`gardenbot bench cl --set`: TrainConfig fields as KEY=VALUE, BufferConfig fields as
buffer.KEY=VALUE (for investigating; the default run has none)."""

from __future__ import annotations

import pytest

from tools.bench.cl import parse_overrides, split_buffer_overrides
from tools.garden.benchmark import BenchError


def test_buffer_keys_go_to_the_buffer_and_the_rest_to_training():
    rest, buffer = split_buffer_overrides(
        ["replay_distill=0.05", "buffer.capacity_bytes=7600000", "bottleneck_dim=128"])
    assert buffer == {"capacity_bytes": 7_600_000}
    assert parse_overrides(rest) == {"replay_distill": 0.05, "bottleneck_dim": 128}


def test_an_unknown_or_bad_buffer_key_is_refused_with_the_keys_it_knows():
    with pytest.raises(BenchError, match="capacity_bytes, policy, validation_fraction"):
        split_buffer_overrides(["buffer.size=3"])
    with pytest.raises(BenchError, match="is not a int"):
        split_buffer_overrides(["buffer.capacity_bytes=big"])
