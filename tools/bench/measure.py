"""Measuring helpers shared by the benchmarks: repeated timing, the machine, GEMM peak, peak RSS.

On a shared 2-core machine a single timing means little: every number here is the median of
repeats with its spread, and speeds are also given as ratios to the machine's GEMM peak
measured in the same run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p05_ms: float
    p95_ms: float
    p99_ms: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def time_calls(fn: Callable[[], object], repeats: int = 100, warmup: int = 10) -> Timing:
    for _ in range(warmup):
        fn()
    ts = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts[i] = time.perf_counter() - t0
    ms = ts * 1e3
    return Timing(float(np.median(ms)), float(np.quantile(ms, 0.05)),
                  float(np.quantile(ms, 0.95)), float(np.quantile(ms, 0.99)), repeats)


def machine() -> dict[str, Any]:
    import onnxruntime

    from tools.machine import describe

    return {**describe(), "numpy": np.__version__, "onnxruntime": onnxruntime.__version__}


_GEMM_CHILD = """
import json, sys, time
import numpy as np
n = int(sys.argv[1])
a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
for _ in range(3):
    a @ b
ts = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t)
print(json.dumps({"gflops": 2 * n ** 3 / float(np.median(ts)) / 1e9}))
"""


def gemm_peak_gflops(threads: int, n: int = 1024, repeats: int = 15) -> float:
    """fp32 GEMM GFLOP/s with ``threads`` BLAS threads, in a child so the thread count holds."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", _GEMM_CHILD, str(n), str(repeats)], env=env,
                         capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout)["gflops"])


def run_child_measuring_rss(code: str, args: list[str] | None = None) -> dict[str, Any]:
    """Run Python ``code`` in a fresh process; returns its JSON stdout plus its peak RSS in MB.

    The child reports its own high-water mark (VmHWM), so nothing of this process counts.
    """
    wrapper = code + (
        "\nimport json as _j\n"
        "_rss = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
        "print('__RSS__', _j.dumps(int(_rss[0].split()[1]) / 1024 if _rss else None))\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *(args or [])], capture_output=True,
                         text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    result: dict[str, Any] = {}
    for line in out.stdout.splitlines():
        if line.startswith("__RSS__"):
            result["peak_rss_mb"] = json.loads(line.split(" ", 1)[1])
        elif line.startswith("{"):
            result.update(json.loads(line))
    return result


def onnx_conv_flops(path: str | os.PathLike[str]) -> float:
    """Multiply-adds × 2 of every Conv/Gemm/MatMul in an ONNX graph (after shape inference)."""
    import onnx
    from onnx import numpy_helper, shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    g = model.graph
    shapes: dict[str, list[int]] = {}
    for vi in list(g.value_info) + list(g.output) + list(g.input):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    inits = {t.name: numpy_helper.to_array(t).shape for t in g.initializer}
    flops = 0.0
    for node in g.node:
        if node.op_type == "Conv":
            w = inits.get(node.input[1])
            out = shapes.get(node.output[0])
            if w is None or not out:
                continue
            cout, cin_g, kh, kw = w
            flops += 2.0 * out[0] * cout * out[2] * out[3] * cin_g * kh * kw
        elif node.op_type in ("Gemm", "MatMul"):
            w = inits.get(node.input[1])
            out = shapes.get(node.output[0])
            if w is None or not out:
                continue
            flops += 2.0 * float(np.prod(out)) * w[0 if node.op_type == "MatMul" else 1]
    return flops
