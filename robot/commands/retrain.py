"""`gardenbot retrain`: retrain the adapter now from the replay buffer, then publish or not."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from robot.learning.config import STRATEGY_NAMES, PublishConfig, TrainConfig
from robot.learning.paths import LearnerPaths, default_data_dir


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gardenbot retrain",
        description="Retrain the adapter from the replay buffer in a low-priority learner "
                    "process and publish it if it validates no worse than the current one.")
    p.add_argument("--data-dir", type=Path, default=None,
                   help=f"robot data folder (default ${{GARDENBOT_DATA}} or {default_data_dir()})")
    p.add_argument("--buffer", type=Path, help="replay buffer file (default: in the data folder)")
    p.add_argument("--store", type=Path, help="adapter store folder (default: in the data folder)")
    p.add_argument("--strategy", default="replay", choices=STRATEGY_NAMES)
    p.add_argument("--steps", type=int, default=TrainConfig.steps, help="optimiser steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--margin", type=float, default=PublishConfig.margin,
                   help="publish if validation >= current - margin (0..1)")
    p.add_argument("--force", action="store_true", help="publish even if it validates worse")
    p.add_argument("--foreground", action="store_true",
                   help="train in this process instead of a background learner process")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from robot.learning.process import LearnerProcess
    from robot.learning.retrain import RetrainJob, run_retrain

    paths = LearnerPaths(args.data_dir or default_data_dir())
    job = RetrainJob(
        buffer_path=str(args.buffer or paths.buffer), store_dir=str(args.store or paths.store),
        train=TrainConfig(strategy=args.strategy, steps=args.steps),
        publish=PublishConfig(margin=args.margin), seed=args.seed, reason="cli",
        force_publish=args.force)
    if args.foreground:
        result = run_retrain(job)
        _print_result(result)
        return 0 if result["published"] else 3
    proc = LearnerProcess(job, paths.status if not args.store else Path(job.store_dir)
                          / "learner_status.json")
    proc.start()
    try:
        while proc.is_alive():
            st = proc.status()
            print(f"\r{st.state:<9} {st.stage:<11} {100 * st.progress:5.1f}%", end="",
                  file=sys.stderr, flush=True)
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("\ncancelling…", file=sys.stderr)
        st = proc.cancel()
        print(f"{st.state}: {st.message}")
        return 130
    st = proc.wait()
    print(file=sys.stderr)
    if st.state in ("published", "rejected"):
        _print_result(st.result)
        return 0 if st.state == "published" else 3
    print(f"retrain {st.state}: {st.message}", file=sys.stderr)
    return 1


def _print_result(result: dict) -> None:
    verdict = f"published as version {result['version']}" if result["published"] else \
        "not published"
    print(f"{result['strategy']}: {verdict} ({result['reason']}); "
          f"{result['new_cells']} new + {result['replay_cells']} replayed cells, "
          f"{result['validation_cells']} held out; trained in {result['train_s']:.2f} s, "
          f"peak RSS {result['peak_rss_mb']:.0f} MB")
