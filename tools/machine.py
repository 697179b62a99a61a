"""What machine a measurement ran on, for benchmark reports and the model card."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def _proc_field(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name where Linux tells it, else what platform knows."""
    return _proc_field("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()


def describe() -> dict[str, Any]:
    """CPU, core count, memory, OS, Python and the load average at the moment of the call."""
    mem_kb = _proc_field("/proc/meminfo", "MemTotal")
    return {"cpu": cpu_model(), "logical_cpus": os.cpu_count(),
            "memory_gb": round(int(mem_kb.split()[0]) / 1024 / 1024, 1) if mem_kb else None,
            "os": f"{platform.system()} {platform.release()}", "machine": platform.machine(),
            "python": platform.python_version(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}


def one_line() -> str:
    return f"{cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.machine()}"
