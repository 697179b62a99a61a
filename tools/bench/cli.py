"""`gardenbot bench <what>`: dispatches to one benchmark module per kind of measurement.

Benchmarks print what they measured and write JSON next to their report; nothing here asserts a
speed. Record the numbers, with the machine, in docs/benchmarks.md.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module exposing main(argv) -> int, one-line help)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "synth": ("tools.bench.synth", "garden-world generation speed (frames/s)"),
    "season-probe": ("tools.bench.season_probe",
                     "cross-season accuracy of a colour/texture cell probe"),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: gardenbot bench <benchmark> [args...]\n\nbenchmarks:")
        for name, (_, help_) in BENCHMARKS.items():
            print(f"  {name:<10} {help_}")
        return 0 if argv else 2
    name = argv[0]
    if name not in BENCHMARKS:
        print(f"gardenbot bench: unknown benchmark {name!r}; one of {', '.join(BENCHMARKS)}",
              file=sys.stderr)
        return 2
    return int(importlib.import_module(BENCHMARKS[name][0]).main(argv[1:]) or 0)
