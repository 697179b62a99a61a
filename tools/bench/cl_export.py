"""`gardenbot bench cl-export`: the continual-learning benchmark's cached features as plain .npz.

For comparing the learner with other continual-learning code on exactly the same inputs
(tools/bench/cl_avalanche.py runs Avalanche on them, in its own virtual environment). Writes,
into --out:

- ``meta.json``: classes, feature dim, backbone sha256, the steps (name, season) and, per step,
  how many cells the robot's 4 MB replay buffer holds before it (seed 0) — the memory size an
  outside replay method should get to be comparable;
- ``step{k}_train.npz`` and ``step{k}_test.npz``: ``features`` (N, C) float16 — the frozen
  backbone's per-cell features, the same the benchmark's strategies are trained and tested on —
  and ``labels`` (N,) uint8 class ids.

Features are raw (not standardised): the learner standardises with the first retrain's data and
then keeps that fixed; an outside method should do the same to match it.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from robot.common.atomic import atomic_write_bytes
from robot.learning.config import BufferConfig
from tools.bench.cl import DEFAULT_CACHE, synthetic_set
from tools.bench.cl_stream import BenchError, read_manifest

log = logging.getLogger(__name__)


def _npz_bytes(features: np.ndarray, labels: np.ndarray) -> bytes:
    import io

    out = io.BytesIO()
    np.savez(out, features=features.astype(np.float16), labels=labels.astype(np.uint8))
    return out.getvalue()


def export(stream_root: Path | None, out: Path, *, card: Path | None, variant: str,
           cache_dir: Path, quick: bool = False, real: Path | None = None) -> dict[str, object]:
    from robot.learning.replay_buffer import ReplayBuffer
    from robot.seeing.backbone import Backbone
    from tools.bench.cl_features import FeatureCache
    from tools.bench.cl_runner import prepare

    if real is not None:
        from tools.bench.cl_real import ycor_stream

        stream, _ = ycor_stream(real, quick=quick)
    else:
        root, _ = synthetic_set(stream_root, quick)
        stream = read_manifest(root)
    bb = Backbone(card, variant=variant, threads=2)
    cache = FeatureCache(cache_dir, bb, stream.classes)
    prepared, cells = prepare(stream, cache, cache_dir, BufferConfig(), [0])
    out.mkdir(parents=True, exist_ok=True)
    steps = []
    for k, step in enumerate(stream.steps):
        for role, sources in (("train", step.train), ("test", step.test)):
            parts = [cells[s.name] for s in sources]
            feats = np.concatenate([p.features for p in parts])
            labels = np.concatenate([p.labels for p in parts])
            atomic_write_bytes(out / f"step{k}_{role}.npz", _npz_bytes(feats, labels))
        buf = ReplayBuffer.load(prepared[0].buffer_files[k], backbone_sha256=bb.backbone_id,
                                feature_dim=bb.feature_dim)
        steps.append({"index": k, "name": step.name, "season": step.season,
                      "buffer_cells_before": len(buf),
                      "buffer_train_cells_before": len(buf.split()[0])})
    meta = {"stream": stream.name, "classes": list(stream.classes),
            "feature_dim": bb.feature_dim, "backbone_sha256": bb.backbone_id,
            "variant": variant, "steps": steps}
    atomic_write_bytes(out / "meta.json", json.dumps(meta, indent=1).encode())
    return meta


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gardenbot bench cl-export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmark", type=Path, default=None,
                   help="synthetic benchmark set (default as `bench cl`)")
    p.add_argument("--real", type=Path, default=None, metavar="YCOR_DIR",
                   help="export the real track (YCOR) instead")
    p.add_argument("--quick", action="store_true", help="the quick set")
    p.add_argument("--card", type=Path, default=None, help="backbone model card")
    p.add_argument("--variant", choices=("fp32", "int8"), default="fp32")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="feature cache folder")
    p.add_argument("--out", type=Path, required=True, help="folder for meta.json and the .npz")
    a = p.parse_args(argv)
    if a.real is not None and a.benchmark is not None:
        raise BenchError("--real and --benchmark are two different tracks; give one")
    meta = export(a.benchmark, a.out, card=a.card, variant=a.variant, cache_dir=a.cache,
                  quick=a.quick, real=a.real)
    print(f"wrote {len(meta['steps'])} steps ({meta['feature_dim']} channels) to {a.out}")  # type: ignore[arg-type]
    return 0
