"""`gardenbot bench perf`: how fast the robot's parts run on this machine.

Measures, in one run: the machine's fp32 GEMM peak; the backbone's latency (fp32 and int8, one
and two threads) with its achieved GFLOP/s; the peak RSS of a process that only runs the
backbone. Prints a table and writes every number to JSON; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
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
from robot.backbone import Backbone
bb = Backbone(sys.argv[1] or None, variant=sys.argv[2], threads=int(sys.argv[3]))
frame = np.random.default_rng(0).integers(0, 255, (*bb.card.input_hw, 3), dtype=np.uint8)
for _ in range(int(sys.argv[4])):
    bb.features(frame)
"""


def bench_backbone(card: Path | None, repeats: int) -> dict[str, Any]:
    from robot.backbone import Backbone

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


def run(card: Path | None, repeats: int) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine()}
    log.info("GEMM peak")
    results["gemm_peak_gflops"] = {
        "1t": round(gemm_peak_gflops(1), 1), "2t": round(gemm_peak_gflops(2), 1)}
    log.info("backbone latency")
    results["backbone"] = bench_backbone(card, repeats)
    return results


def report(r: dict[str, Any]) -> str:
    b = r["backbone"]
    peak = r["gemm_peak_gflops"]
    lines = [
        f"machine: {r['machine']['cpu']}, {r['machine']['logical_cpus']} CPUs, "
        f"load {r['machine']['load_average']}",
        f"fp32 GEMM peak: {peak['1t']} GFLOP/s (1 thread), {peak['2t']} GFLOP/s (2 threads)",
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
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gardenbot bench perf", description=__doc__)
    p.add_argument("--card", type=Path, default=None, help="backbone model card (default: "
                                                          "the shipped one)")
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--out", type=Path, default=Path("runs/bench-perf.json"))
    a = p.parse_args(argv)
    results = run(a.card, a.repeats)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2))
    print(report(results))
    print(f"\nall numbers: {a.out}")
    return 0
