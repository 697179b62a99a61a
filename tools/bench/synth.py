"""`gardenbot bench synth`: how fast the garden world generates recordings at 320x240.

Measures, each as the median of ``--repeats`` runs:

- end to end, one process: ``write_recording`` of ``--frames`` frames (world build, drive,
  rendering, camera effects, video, label PNGs on every 2nd frame, telemetry) -> frames/s;
- the same split into stages per frame: render, camera effects, writing;
- several processes at once (one recording each, ``--jobs``, default one per core, workers
  warmed up first) -> total frames/s.

Timings on a shared machine swing; compare numbers from one run, and repeat.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

SEASON_CYCLE = ("spring", "summer", "autumn", "winter")


def _one_recording(args: tuple[str, str, int, int]) -> float:
    """Write one recording; returns its wall time in seconds."""
    import cv2

    from tools.garden.generate import RecordingSpec, write_recording

    cv2.setNumThreads(1)
    out, season, frames, seed = args
    spec = RecordingSpec("g06", season, frames / 10.0, 10.0, seed=seed, label_every=2)
    t0 = time.perf_counter()
    write_recording(spec, out)
    return time.perf_counter() - t0


def stage_times(frames: int, season: str) -> dict[str, float]:
    """Median milliseconds per frame of each stage, for one recording's worth of frames."""
    import numpy as np

    from robot.seeing.recording import RecordingWriter
    from tools.garden.camera_fx import CameraEffects
    from tools.garden.generate import RecordingSpec, prepare, recording_meta
    from tools.garden.render import GardenRenderer

    spec = RecordingSpec("g06", season, frames / 10.0, 10.0, label_every=2)
    t0 = time.perf_counter()
    syn = prepare(spec)
    prepare_s = time.perf_counter() - t0
    cam = spec.camera
    renderer = GardenRenderer(syn.world, cam)
    fx = CameraEffects(cam.width, cam.height, cam.fx, syn.world.look, np.random.default_rng(0))
    render, effects, write = [], [], []
    with tempfile.TemporaryDirectory() as tmp, RecordingWriter(
            Path(tmp) / "r", recording_meta(spec, syn.world.garden, syn.world)) as writer:
        for i, (st, rec) in enumerate(zip(syn.states, syn.telemetry, strict=True)):
            a = time.perf_counter()
            clean, labels = renderer.render(st.pose)
            b = time.perf_counter()
            image = fx.apply(clean, st.v_mps, st.omega_radps)
            c = time.perf_counter()
            writer.add_frame(image, st.t, labels if i % 2 == 0 else None)
            writer.add_telemetry(rec)
            d = time.perf_counter()
            render.append(b - a)
            effects.append(c - b)
            write.append(d - c)
    ms = 1000.0
    return {"prepare_s": round(prepare_s, 3),
            "render_ms": round(statistics.median(render) * ms, 2),
            "camera_effects_ms": round(statistics.median(effects) * ms, 2),
            "write_ms": round(statistics.median(write) * ms, 2)}


def run(frames: int, repeats: int, jobs: int) -> dict[str, Any]:
    results: dict[str, Any] = {"frames_per_recording": frames, "repeats": repeats,
                               "width": 320, "height": 240, "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="gardenbot-bench-") as tmp:
        single = []
        _one_recording((str(Path(tmp) / "warm"), "autumn", 10, 0))  # imports, cached tiles
        for r in range(repeats):
            season = SEASON_CYCLE[r % len(SEASON_CYCLE)]
            s = _one_recording((str(Path(tmp) / f"single{r}"), season, frames, r))
            single.append(frames / s)
        results["single_process_fps"] = round(statistics.median(single), 1)
        results["single_process_fps_runs"] = [round(v, 1) for v in single]
        multi = []
        ctx = mp.get_context("spawn")  # a forked child can hang in OpenCV's thread pool
        with ctx.Pool(jobs) as pool:
            # warm the workers first (imports, cached texture tiles), as a long run would be
            pool.map(_one_recording, [(str(Path(tmp) / f"warm{j}"), SEASON_CYCLE[j % 4], 10, j)
                                      for j in range(4 * jobs)], chunksize=1)
            for r in range(repeats):
                tasks = [(str(Path(tmp) / f"multi{r}_{j}"), SEASON_CYCLE[(r + j) % 4], frames,
                          100 + j) for j in range(jobs)]
                t0 = time.perf_counter()
                pool.map(_one_recording, tasks, chunksize=1)
                multi.append(jobs * frames / (time.perf_counter() - t0))
        results["processes"] = jobs
        results["multi_process_fps"] = round(statistics.median(multi), 1)
        results["multi_process_fps_runs"] = [round(v, 1) for v in multi]
    stages = [stage_times(frames, SEASON_CYCLE[r % 4]) for r in range(repeats)]
    results["stages"] = {k: statistics.median(s[k] for s in stages) for k in stages[0]}
    return results


def machine() -> dict[str, Any]:
    from tools.machine import describe

    return describe()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gardenbot bench synth", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=300, help="frames per recording (default 300)")
    p.add_argument("--repeats", type=int, default=3, help="runs per measurement (default 3)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="processes for the parallel run (default: one per core)")
    p.add_argument("--json", help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if args.frames < 10 or args.repeats < 1 or args.jobs < 1:
        p.error("--frames must be >= 10, --repeats and --jobs >= 1")
    res = run(args.frames, args.repeats, args.jobs)
    st = res["stages"]
    print(f"garden world at 320x240, {args.frames} frames per recording, median of "
          f"{args.repeats}:")
    print(f"  one process, end to end:   {res['single_process_fps']:7.1f} frames/s "
          f"(runs {res['single_process_fps_runs']})")
    print(f"  {res['processes']} processes together:     {res['multi_process_fps']:7.1f} frames/s "
          f"(runs {res['multi_process_fps_runs']})")
    print(f"  per frame: render {st['render_ms']} ms, camera effects {st['camera_effects_ms']} "
          f"ms, write {st['write_ms']} ms; per recording: prepare {st['prepare_s']} s")
    print(f"  machine: {res['machine'].get('cpu', '?')}, {res['machine']['cpus']} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0
