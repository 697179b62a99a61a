"""`gardenbot retrain`: retrain the adapter now from the replay buffer, then publish or not."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

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


class Progress:
    """The learner's progress on ``stream``: one line rewritten in place on a terminal; anywhere
    else (a log, a pipe) one line per change, so the log reads as a history."""

    def __init__(self, stream: TextIO, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self._last = ""

    def show(self, text: str) -> None:
        if text == self._last:
            return
        if self.tty:
            self.stream.write("\r" + text + " " * max(0, len(self._last) - len(text)))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._last = text

    def end(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
            self.stream.flush()


def check_buffer(path: Path) -> None:
    """Refuse a missing or empty buffer here, before a learner is started or the store made."""
    from robot.common.errors import LearnerError, ReplayBufferError
    from robot.learning.replay_buffer import ReplayBuffer

    how = ("the robot fills one as it runs: `gardenbot run` (with this data folder), or on a "
           "desktop `gardenbot simulate --data-dir DIR`, starts it from the shipped buffer "
           "(models/default) and adds what it learns; or give a buffer file with --buffer")
    if not path.is_file():
        raise ReplayBufferError(f"{path}: no replay buffer there; {how}")
    if len(ReplayBuffer.load(path)) == 0:
        raise LearnerError(f"{path}: the replay buffer is empty; nothing to train on ({how})")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from robot.learning.process import LearnerProcess
    from robot.learning.retrain import RetrainJob, run_retrain

    paths = LearnerPaths(args.data_dir or default_data_dir())
    check_buffer(args.buffer or paths.buffer)
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
    progress = Progress(sys.stderr)
    try:
        while proc.is_alive():
            st = proc.status()
            progress.show(f"{st.state:<9} {st.stage:<11} {100 * st.progress:5.1f}%")
            time.sleep(0.2)
    except KeyboardInterrupt:
        progress.end()
        print("cancelling…", file=sys.stderr)
        st = proc.cancel()
        print(f"{st.state}: {st.message}")
        return 130
    st = proc.wait()
    progress.end()
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
