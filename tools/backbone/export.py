"""Export a backbone to the shipped format: ONNX fp32, static int8 (QDQ), and a model card.

Works for our own pretrained GardenNet and for any torch module a user brings
(``--from-module pkg.module:factory``) that maps normalised RGB (N, 3, H, W) to a feature grid
(N, C, H/s, W/s). The frame preprocessing (BGR uint8 → normalised RGB) is folded into the graph.
"""

from __future__ import annotations

import importlib
import logging
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from robot.common.atomic import atomic_write_json
from robot.seeing.backbone import CARD_FORMAT, CARD_VERSION, sha256_file
from tools.backbone.arch import MEAN_RGB, STD_RGB, DeployedBackbone

log = logging.getLogger(__name__)

OPSET = 17
INPUT_NAME = "frames"
OUTPUT_NAME = "features"


def load_factory(spec: str) -> nn.Module:
    """Call ``pkg.module:factory`` and return the module it makes (in eval mode)."""
    if ":" not in spec:
        raise ValueError(f"--from-module wants 'pkg.module:factory', got {spec!r}")
    mod_name, fn_name = spec.split(":", 1)
    try:
        factory = getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot load {spec!r}: {e}") from e
    net = factory()
    if not isinstance(net, nn.Module):
        raise ValueError(f"{spec} returned {type(net).__name__}, not a torch.nn.Module")
    return net.eval()


def grid_geometry(net: nn.Module, input_hw: tuple[int, int]) -> tuple[int, int]:
    """(stride, feature_dim) of a net, found by running it once on a blank frame."""
    with torch.no_grad():
        out = net(torch.zeros(1, 3, *input_hw))
    if out.ndim != 4:
        raise ValueError(f"the module must return (N, C, h, w) features, got shape "
                         f"{tuple(out.shape)}")
    _, c, h, w = out.shape
    if input_hw[0] % h or input_hw[1] % w or input_hw[0] // h != input_hw[1] // w:
        raise ValueError(f"input {input_hw} does not map to grid {(h, w)} by one integer stride")
    return input_hw[0] // h, int(c)


def export_onnx(
    net: nn.Module, input_hw: tuple[int, int], path: Path,
    mean_rgb: Sequence[float] = MEAN_RGB, std_rgb: Sequence[float] = STD_RGB,
    colour_stats: int | None = None, colour_histograms: bool = True,
) -> None:
    """fp32 ONNX taking uint8 BGR frames (1, H, W, 3) and giving features (1, C, h, w).

    ``colour_stats`` (the net's stride) appends the fixed per-cell colour statistics, with
    their histograms unless ``colour_histograms`` is false.
    """
    model = DeployedBackbone(net.eval(), tuple(mean_rgb), tuple(std_rgb), colour_stats,
                             colour_histograms).eval()
    dummy = torch.zeros(1, *input_hw, 3, dtype=torch.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The TorchScript exporter (dynamo=False) is deprecated but needs no onnxscript and gives a
    # plain, quantisation-friendly graph; its deprecation warning is not news to the user.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # "Constant folding not applied" for the BGR→RGB flip: harmless, and not the user's to fix
        warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
        torch.onnx.export(
            model, (dummy,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            opset_version=OPSET, dynamo=False, do_constant_folding=True,
        )


# Graph nodes left in float in the int8 model: the fixed colour statistics (elementwise work
# that int8 makes slower; docs/benchmarks.md, "Latency of the shipped files") and the
# concatenation after them.
KEEP_FLOAT_PREFIXES = ("/colour/",)


def quantize_int8(fp32_path: Path, int8_path: Path, calibration: Sequence[np.ndarray]) -> None:
    """Static int8 with QDQ nodes, per-channel weights, calibrated on real frames.

    Dynamic quantisation is not used: it makes convolution nets several times slower.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not calibration:
        raise ValueError("int8 calibration needs at least one frame")

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            f = next(self._it, None)
            return None if f is None else {INPUT_NAME: f[None]}

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre))
        graph = onnx.load(str(pre)).graph
        outputs = {o.name for o in graph.output}
        keep_float = [n.name for n in graph.node if n.name.startswith(KEEP_FLOAT_PREFIXES)]
        if keep_float:  # the node that joins the colour statistics to the learned features
            keep_float += [n.name for n in graph.node
                           if n.op_type == "Concat" and set(n.output) & outputs]
        quantize_static(
            str(pre), str(int8_path), Frames(), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
            nodes_to_exclude=keep_float,
        )


def run_onnx(path: Path, frames: Iterable[np.ndarray], threads: int = 2) -> list[np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return [sess.run(None, {INPUT_NAME: f[None]})[0][0] for f in frames]


def feature_agreement(a: list[np.ndarray], b: list[np.ndarray]) -> dict[str, float]:
    """Per-cell cosine similarity between two lists of (C, h, w) feature grids."""
    cos = []
    for x, y in zip(a, b, strict=True):
        x2 = x.reshape(x.shape[0], -1)
        y2 = y.reshape(y.shape[0], -1)
        num = (x2 * y2).sum(0)
        den = np.linalg.norm(x2, axis=0) * np.linalg.norm(y2, axis=0) + 1e-12
        cos.append(num / den)
    c = np.concatenate(cos)
    return {"cosine_mean": round(float(c.mean()), 5), "cosine_p05": round(float(np.quantile(
        c, 0.05)), 5), "cosine_min": round(float(c.min()), 5), "frames": len(a),
        "cells": int(c.size)}


def machine_description() -> str:
    from tools.machine import one_line

    return one_line()


def write_card(
    out_dir: Path, name: str, input_hw: tuple[int, int], stride: int, feature_dim: int,
    files: dict[str, Path], mean_rgb: Sequence[float], std_rgb: Sequence[float],
    extra: dict[str, Any], channel_groups: list[dict[str, Any]] | None = None,
) -> Path:
    """models/backbone.json: what the files take and give, their sha256, and how they were made."""
    card = {
        "format": CARD_FORMAT,
        "card_version": CARD_VERSION,
        "name": name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "input": {
            "name": INPUT_NAME, "layout": "NHWC", "dtype": "uint8", "channels": "BGR",
            "height": input_hw[0], "width": input_hw[1],
            "normalisation": {
                "note": "done inside the graph: RGB / 255, minus mean, divided by std",
                "mean_rgb": list(mean_rgb), "std_rgb": list(std_rgb),
            },
        },
        "output": {
            "name": OUTPUT_NAME, "layout": "NCHW", "dtype": "float32", "stride": stride,
            "feature_dim": feature_dim, "grid": [input_hw[0] // stride, input_hw[1] // stride],
            "channel_groups": channel_groups or [
                {"name": "features", "start": 0, "count": feature_dim}],
        },
        "files": {
            variant: {"path": p.name, "sha256": sha256_file(p), "bytes": p.stat().st_size}
            for variant, p in files.items()
        },
        "opset": OPSET,
        **extra,
    }
    path = out_dir / "backbone.json"
    atomic_write_json(path, card)
    return path
