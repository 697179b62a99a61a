"""The fault-injecting proxy: its pure damage function, and its process mode."""

from __future__ import annotations

import random
import sys
from collections import Counter

import pytest

from firmware_bridge import Link, LinkConfig
from firmware_bridge.board import PtyProcess, _python_env
from firmware_bridge.faultproxy import Faults, corrupt


def test_corruption_follows_its_probabilities():
    counts: Counter[str] = Counter()
    data = bytes(range(1, 256)) * 40
    out = corrupt(data, Faults(drop=0.1, flip=0.1, duplicate=0.1), random.Random(3), counts)
    n = len(data)
    for kind in ("dropped", "flipped", "duplicated"):
        assert 0.08 * n < counts[kind] < 0.12 * n
    assert len(out) == n - counts["dropped"] + counts["duplicated"]


def test_no_faults_passes_bytes_untouched():
    counts: Counter[str] = Counter()
    assert corrupt(b"\x01\x02\x00", Faults(), random.Random(0), counts) == b"\x01\x02\x00"
    assert not counts


@pytest.mark.parametrize("bad", [{"drop": 1.5}, {"flip": -0.1}, {"delay_ms": (5, 1)}])
def test_faults_are_validated(bad):
    with pytest.raises(ValueError):
        Faults(**bad)


def test_process_mode_forwards_between_two_ptys(emulator):
    argv = [sys.executable, "-m", "firmware_bridge.faultproxy", emulator.pty_path,
            "--flip", "0.001", "--seed", "3"]
    with PtyProcess(argv, r"^(/\S+)$", env=_python_env()) as proxy, \
            Link.open(proxy.port, config=LinkConfig(retries=5)) as link:
        link.release()
        assert link.water(2, 30)
    assert [w.zone for w in emulator.state().waters] == [2]
