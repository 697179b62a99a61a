"""`gardenbot bench perf`: how fast the robot's parts run on this machine.

Measures, in one run: the machine's fp32 GEMM peak; the backbone's latency (fp32 and int8, one
and two threads) with its achieved GFLOP/s; the peak RSS of a process that only runs the
backbone; and the robot's whole control loop (tools/bench/loop.py: frame in → command out
through the serial link to an MCU emulator, learner idle and then retraining in the
background, with the perception process's peak RSS), and the same loop once more with the
owner's dashboard open and MQTT connected to a local Mosquitto (skipped, with a note, where
Mosquitto is not installed). Prints a table and writes every number to JSON; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from tools.bench.measure import (
    gemm_peak_gflops,
    machine,
    onnx_conv_flops,
    run_child_measuring_rss,
    time_calls,
)

log = logging.getLogger(__name__)

_BACKBONE_ONLY = """
import sys, numpy as np
from robot.seeing.backbone import Backbone
bb = Backbone(sys.argv[1] or None, variant=sys.argv[2], threads=int(sys.argv[3]))
frame = np.random.default_rng(0).integers(0, 255, (*bb.card.input_hw, 3), dtype=np.uint8)
for _ in range(int(sys.argv[4])):
    bb.features(frame)
"""


def bench_backbone(card: Path | None, repeats: int) -> dict[str, Any]:
    from robot.seeing.backbone import Backbone

    out: dict[str, Any] = {}
    first = Backbone(card, variant="fp32", threads=1)
    flops = onnx_conv_flops(first.card.files["fp32"][0])
    out["gflop_per_frame"] = round(flops / 1e9, 4)
    out["input"] = f"{first.card.input_hw[1]}x{first.card.input_hw[0]}"
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (*first.card.input_hw, 3), dtype=np.uint8)
    for variant in ("fp32", "int8"):
        for threads in (1, 2):
            bb = Backbone(card, variant=variant, threads=threads)
            t = time_calls(lambda bb=bb: bb.features(frame), repeats=repeats)
            row = t.as_dict()
            row["gflops"] = round(flops / (t.median_ms / 1e3) / 1e9, 2)
            out[f"{variant}_{threads}t"] = row
    for variant in ("fp32", "int8"):
        r = run_child_measuring_rss(_BACKBONE_ONLY, [str(card or ""), variant, "2", "50"])
        out[f"{variant}_process_peak_rss_mb"] = round(r["peak_rss_mb"], 1)
    return out


_LOOP_CHILD = """
import sys
from tools.bench.loop import main
main(sys.argv[1:])
"""


def bench_loop(card: Path | None, defaults: Path | None, frames_from: Path | None,
               idle_s: float, busy_s: float, threads: int, dashboard: bool = False,
               mqtt_port: int | None = None) -> dict[str, Any]:
    """The control loop in a child process against an emulator process; see tools/bench/loop.py.
    """
    import shutil
    import tempfile

    from firmware_bridge.board import emulator_process
    from robot.runtime.settings import shipped_defaults_dir

    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp, emulator_process() as mcu:
        data = Path(tmp) / "data"
        shutil.copytree(defaults or shipped_defaults_dir(), data)
        args = ["--port", mcu.port, "--data-dir", str(data), "--idle-s", str(idle_s),
                "--busy-s", str(busy_s), "--threads", str(threads)]
        if card is not None:
            args += ["--card", str(card)]
        if frames_from is not None:
            args += ["--frames-from", str(frames_from)]
        if dashboard:
            args += ["--dashboard"] + (["--mqtt-port", str(mqtt_port)] if mqtt_port else [])
        r = run_child_measuring_rss(_LOOP_CHILD, args)
    r["perception_process_peak_rss_mb"] = round(r.pop("peak_rss_mb"), 1)
    return r


def run(card: Path | None, repeats: int, loop: dict[str, Any] | None = None
        ) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine()}
    log.info("GEMM peak")
    results["gemm_peak_gflops"] = {
        "1t": round(gemm_peak_gflops(1), 1), "2t": round(gemm_peak_gflops(2), 1)}
    log.info("backbone latency")
    results["backbone"] = bench_backbone(card, repeats) if repeats > 0 else None
    if loop is not None:
        dashboard = loop.pop("dashboard", True)
        log.info("control loop")
        results["loop"] = bench_loop(card, **loop)
        if dashboard:
            log.info("control loop with the dashboard open and MQTT connected")
            results["loop_dashboard"] = bench_loop_dashboard(card, loop)
    return results


def bench_loop_dashboard(card: Path | None, loop: dict[str, Any]) -> dict[str, Any]:
    """The loop, learner idle, with a page open on the dashboard and MQTT connected to a
    Mosquitto broker started here (docs/dashboard.md)."""
    import contextlib
    import shutil
    import socket
    import subprocess
    import tempfile

    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                        if Path("/usr/sbin/mosquitto").exists() else None)
    if exe is None:
        return {"skipped": "mosquitto is not installed (scripts/system-deps.sh installs it)"}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                        + ("user root\n" if os.geteuid() == 0 else ""))
        broker = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                with contextlib.suppress(OSError):
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                time.sleep(0.05)
            return bench_loop(card, **{**loop, "busy_s": 0.0}, dashboard=True, mqtt_port=port)
        finally:
            broker.kill()
            broker.wait(10)


def report(r: dict[str, Any]) -> str:
    b = r["backbone"]
    peak = r["gemm_peak_gflops"]
    lines = [
        f"machine: {r['machine']['cpu']}, {r['machine']['logical_cpus']} CPUs, "
        f"load {r['machine']['load_average']}",
        f"fp32 GEMM peak: {peak['1t']} GFLOP/s (1 thread), {peak['2t']} GFLOP/s (2 threads)",
    ]
    if b is not None:
        lines += _backbone_report(b, peak)
    if r.get("loop"):
        lines += ["", *_loop_report(r["loop"])]
    if r.get("loop_dashboard"):
        lines += ["", *_dashboard_report(r["loop_dashboard"])]
    return "\n".join(lines)


def _dashboard_report(lp: dict[str, Any]) -> list[str]:
    if "skipped" in lp:
        return [f"control loop with the dashboard: skipped ({lp['skipped']})"]
    x, d = lp.get("idle", {}), lp.get("dashboard", {})
    page = d.get("page", {})
    return ["control loop with the dashboard open (a page client reading the live view and "
            "polling the state each second) and MQTT connected (state published each second):",
            "| learner | ticks | frames/s | median ms | p95 ms |", "|---|---|---|---|---|",
            f"| idle, dashboard + MQTT | {x.get('ticks')} | {x.get('fps')} | "
            f"{x.get('median_ms')} | {x.get('p95_ms')} |",
            f"page client: {page.get('frames')} live frames ({page.get('bytes')} bytes), "
            f"{page.get('polls')} state polls, {page.get('errors', page.get('error'))} errors; "
            f"MQTT connected: {d.get('mqtt_connected')}, {d.get('mqtt_published')} messages "
            f"published; median ms per step: "
            + ", ".join(f"{k} {v:.2f}" for k, v in lp["step_ms"].items())]


def _loop_report(lp: dict[str, Any]) -> list[str]:
    lines = [f"control loop, frame in → command out ({lp['variant']} backbone, "
             f"{lp['threads']} threads, {lp['input']}):",
             "| learner | ticks | frames/s | median ms | p95 ms |", "|---|---|---|---|---|"]
    for phase in ("idle", "retraining"):
        if phase in lp:
            x = lp[phase]
            lines.append(f"| {phase} | {x['ticks']} | {x['fps']} | {x['median_ms']} | "
                         f"{x['p95_ms']} |")
    steps = ", ".join(f"{k} {v:.2f}" for k, v in lp["step_ms"].items())
    lines += [f"median ms per step: {steps}",
              f"link: {lp['drives_acked']} drive commands acked, {lp['drives_superseded']} "
              f"superseded before sending, failures {lp['drive_failures'] or 'none'}; round "
              f"trip median {lp['round_trip_ms']['median']} ms, p99 {lp['round_trip_ms']['p99']} "
              "ms",
              f"retrains during the run: {', '.join(lp['retrains']) or 'none'}",
              f"perception process peak RSS: {lp['perception_process_peak_rss_mb']} MB"]
    return lines


def _backbone_report(b: dict[str, Any], peak: dict[str, Any]) -> list[str]:
    lines = [
        f"backbone: {b['gflop_per_frame']} GFLOP per {b['input']} frame",
        "",
        "| backbone | threads | median ms | p95 ms | GFLOP/s | % of GEMM peak |",
        "|---|---|---|---|---|---|",
    ]
    for variant in ("fp32", "int8"):
        for t in (1, 2):
            row = b[f"{variant}_{t}t"]
            pct = 100 * row["gflops"] / peak[f"{t}t"]
            lines.append(f"| {variant} | {t} | {row['median_ms']:.2f} | {row['p95_ms']:.2f} | "
                         f"{row['gflops']:.1f} | {pct:.0f}% |")
    lines.append("")
    lines.append(f"peak RSS of a backbone-only process: fp32 {b['fp32_process_peak_rss_mb']} MB, "
                 f"int8 {b['int8_process_peak_rss_mb']} MB")
    return lines


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gardenbot bench perf", description=__doc__)
    p.add_argument("--card", type=Path, default=None, help="backbone model card (default: "
                                                          "the shipped one)")
    p.add_argument("--repeats", type=int, default=200,
                   help="backbone timings per variant (0 = skip the backbone section)")
    p.add_argument("--out", type=Path, default=Path("runs/bench-perf.json"))
    loop = p.add_argument_group("control loop")
    loop.add_argument("--no-loop", action="store_true", help="skip the control-loop section")
    loop.add_argument("--defaults", type=Path,
                      help="starting data for the card's backbone (default models/default)")
    loop.add_argument("--frames-from", type=Path, metavar="RECORDING",
                      help="frames to feed the loop (default: a synthetic scene)")
    loop.add_argument("--idle-s", type=float, default=10.0, help="seconds with the learner idle")
    loop.add_argument("--busy-s", type=float, default=15.0,
                      help="seconds with a retrain running (back to back)")
    loop.add_argument("--loop-threads", type=int, default=1,
                      help="onnxruntime threads of the loop's backbone (perception.threads)")
    loop.add_argument("--no-dashboard", action="store_true",
                      help="skip the loop run with the dashboard open and MQTT connected")
    a = p.parse_args(argv)
    loop_args = None if a.no_loop else {"defaults": a.defaults, "frames_from": a.frames_from,
                                        "idle_s": a.idle_s, "busy_s": a.busy_s,
                                        "threads": a.loop_threads,
                                        "dashboard": not a.no_dashboard}
    results = run(a.card, a.repeats, loop_args)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2))
    print(report(results))
    print(f"\nall numbers: {a.out}")
    return 0
