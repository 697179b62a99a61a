"""`gardenbot bench runtime`: the cost per frame of the runtime's numpy steps.

Measures, on synthetic inputs at the default geometry (320×240 frames, a 15×20 grid, 256
features): the learner's adapter (an ONNX graph from the adapter store, here trained with
the closed-form ``ncm`` strategy on random cells), the drive policy, the watering rules, the overlay
renderer, experience labelling (per frame, over a 20 s straight drive at 0.3 m/s with
telemetry at 20 Hz and frames at 30/s), and the driving watch's step (robot/runtime/watch.py)
with no adapter on trial and with one on trial (its parent run in the shadow). The backbone
is benchmarked by its own tools. Prints medians over repeats; nothing is asserted. Record
results with the machine in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np


def _median_ms(fn: Callable[[], Any], repeat: int, inner: int) -> float:
    fn()  # warm up
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        runs.append((time.perf_counter() - t0) / inner * 1e3)
    return statistics.median(runs)


def measure(repeat: int = 7, inner: int = 50, drive_s: float = 20.0) -> dict[str, float]:
    from robot.acting.config import Zone
    from robot.acting.policy import GroundGrid, drive_command, water_command
    from robot.common.classes import DEFAULT_CLASSES
    from robot.common.samples import make_cells
    from robot.learning.experience import PoseTrack, events_from_telemetry, experience_labels
    from robot.learning.learner import LearnerState, TrainConfig, train
    from robot.runtime.config import Config
    from robot.seeing.overlay import render_overlay
    from robot.seeing.perception import CellMap

    cfg = Config()
    cam = cfg.camera.model()
    grid = (15, 20)
    rng = np.random.default_rng(0)
    feats = rng.random((*grid, 256), dtype=np.float32)
    adapter, _ = train("ncm", LearnerState.initial(DEFAULT_CLASSES, 256, "bench"),
                       make_cells(rng.random((2000, 256), dtype=np.float32),
                                  rng.integers(0, 5, 2000)), config=TrainConfig(strategy="ncm"))
    nov = adapter.predict_grid(feats).novelty
    cells = CellMap(np.zeros(grid, np.uint8), np.full(grid, 0.9, np.float32),
                    nov, DEFAULT_CLASSES, 0.0, "bench")
    ground = GroundGrid.from_camera(cam, grid)
    frame = rng.integers(0, 255, (cam.height, cam.width, 3), dtype=np.uint8)
    zones = [Zone(i, 1.0 + i, 0.2 * i, 0.3) for i in range(8)]
    now = datetime(2025, 6, 1, 12, 0)

    # drive_s seconds of driving at 0.3 m/s, telemetry 20 Hz, frames 30/s, a bump at the end
    hz, fps, v = 20.0, 30.0, 0.3
    records = [{"t": t, "x_m": v * t, "y_m": 0.0, "theta_rad": 0.0, "bumper": t > drive_s - 0.5,
                "slip": 0.0} for t in np.arange(0, drive_s, 1 / hz)]
    track = PoseTrack.from_telemetry(records)
    events = events_from_telemetry(records, DEFAULT_CLASSES, cfg.robot, cfg.experience)
    frame_times = np.arange(0, drive_s, 1 / fps)

    results = {
        "adapter_classify_ms": _median_ms(lambda: adapter.predict_grid(feats), repeat, inner),
        "drive_command_ms": _median_ms(
            lambda: drive_command(cells, ground, cfg.policy, cfg.robot), repeat, inner),
        "water_command_8_zones_ms": _median_ms(
            lambda: water_command(zones, (0.0, 0.0, 0.0), cam, {z.id: 0.1 for z in zones}, {},
                                  now, cfg.watering), repeat, inner),
        "overlay_ms": _median_ms(lambda: render_overlay(frame, cells, "status"), repeat,
                                 max(1, inner // 5)),
        "events_from_telemetry_ms": _median_ms(
            lambda: events_from_telemetry(records, DEFAULT_CLASSES, cfg.robot, cfg.experience),
            repeat, 1),
    }
    results.update(_watch_ms(adapter, feats, ground, cfg, repeat, inner))
    t_all = _median_ms(lambda: experience_labels(frame_times, track, events, cam, grid,
                                                 cfg.experience), max(1, repeat // 2), 1)
    results["experience_labels_per_frame_ms"] = t_all / len(frame_times)
    results["experience_events"] = len(events)
    return {k: round(v, 4) for k, v in results.items()}


def _watch_ms(adapter: Any, feats: np.ndarray, ground: Any, cfg: Any, repeat: int,
              inner: int) -> dict[str, float]:
    """The driving watch's step on one frame: counting only, and on trial (the parent adapter
    run on the frame's features, the policy's rule on both adapters' cells)."""
    import tempfile

    from robot.acting.policy import DriveCommand
    from robot.adapter.store import AdapterStore
    from robot.common.classes import DEFAULT_CLASSES
    from robot.learning.config import TrialConfig
    from robot.learning.learner import LearnerState
    from robot.learning.trial import TrialBook
    from robot.runtime.loop import Tick
    from robot.runtime.watch import DrivingWatch, StopRule
    from robot.seeing.perception import CellMap

    state = LearnerState.initial(DEFAULT_CLASSES, feats.shape[-1], "bench")
    p = adapter.predict_grid(feats)
    cells = CellMap(p.classes.astype(np.uint8), p.confidence, p.novelty, DEFAULT_CLASSES, 0.0,
                    "v2", feats, traversable_p=p.traversable)
    tick = Tick(0, 0.0, cells=cells, decision=DriveCommand(0.3, 0.0, 300, "cruise", ""),
                records=[{"t": 0.0, "x_m": 0.0, "y_m": 0.0, "bumper": False}])
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = AdapterStore(Path(tmp) / "adapters")
        store.add_version(adapter, state, {"parent": None})
        store.add_version(adapter, state, {"parent": 1})
        store.set_current(2)
        rule = StopRule(ground, cfg.policy, cfg.robot)
        for name, frames in (("watch_step_ms", 0), ("watch_step_on_trial_ms", 10**9)):
            book = TrialBook(Path(tmp) / f"trials-{frames}.json", TrialConfig(frames=frames))
            book.on_trial(1, None)  # version 1 drove first: version 2 is the new one
            watch = DrivingWatch(book, store, rule)
            out[name] = _median_ms(lambda w=watch: w.run(tick), repeat, inner)
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gardenbot bench runtime", description=__doc__)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = p.parse_args(argv)
    from tools.backbone.export import machine_description

    res = measure(args.repeat)
    res_all = {"machine": machine_description(), **res}
    for k, v in res_all.items():
        print(f"{k:32s} {v}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res_all, indent=2) + "\n")
    return 0
