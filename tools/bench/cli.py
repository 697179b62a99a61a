"""`gardenbot bench <what>`: dispatches to one benchmark module per kind of measurement.

Benchmarks print what they measured and write JSON next to their report. Those with acceptance
bars (cl, bridge) also print a PASS/FAIL line per bar and say in their exit status whether a
quality bar (3) or only a timing bar (4) failed: tools/bench/verdict.py, docs/bench.md. Record
the numbers, with the machine, in docs/benchmarks.md.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module exposing main(argv) -> int, one-line help)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "cl": ("tools.bench.cl", "seasonal continual-learning benchmark of every learner strategy"),
    "cl-export": ("tools.bench.cl_export", "the cl benchmark's cached features per step as .npz "
                  "(for tools/bench/cl_avalanche.py)"),
    "perf": ("tools.bench.perf", "latency, throughput and memory of the robot's parts"),
    "learner": ("tools.bench.learner", "retrain time, learner RSS, adapter inference, vs backbone"),
    "replay-policy": ("tools.bench.replay_policy", "balanced replay buffer vs plain reservoir"),
    "runtime": ("tools.bench.runtime", "per-frame cost of adapter, policy, overlay, "
                "experience labels"),
    "bridge": ("tools.bench.bridge", "serial link: round trip, frame overhead, decoder, errors"),
    "policy": ("tools.bench.policy_curve", "drive policy under real perception: false stops vs "
               "missed obstacles over its unsure rules"),
    "drive": ("tools.bench.drive", "closed loop: how the robot drives each season, before and "
              "after its retrain, against the oracle"),
    "labels": ("tools.bench.labels", "label budget: what one retrain recovers of a new season "
               "from each set of label sources, against dense label maps"),
    "autonomy": ("tools.bench.autonomy", "the season change with nobody there: days through a "
                 "compressed year, drift alarm and nightly schedule, against the oracle"),
    "drift": ("tools.bench.drift", "drift alarm: false alarms on stable days vs delay after "
              "season changes, over its settings"),
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
