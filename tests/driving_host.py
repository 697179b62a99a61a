"""A host process that keeps driving the robot until it is killed (for the failsafe tests)."""

from __future__ import annotations

import os
import subprocess
import sys

_SCRIPT = """
import sys, time
from firmware_bridge import Link
with Link.open(sys.argv[1]) as link:
    link.release()
    while True:
        link.drive(float(sys.argv[2]), 0.0, ttl_ms=1000)
        print("driving", flush=True)
        time.sleep(0.05)
"""


def start_driving_host(port: str, speed_mps: float) -> subprocess.Popen[str]:
    """Start it on ``port`` and return once its first drive command went out."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    host = subprocess.Popen([sys.executable, "-c", _SCRIPT, port, str(speed_mps)],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert host.stdout is not None and host.stdout.readline().strip() == "driving"
    return host
