"""`gardenbot defaults`: make the shipped starting point — a replay buffer and an adapter v1.

A new robot must see its garden before it has learned anything of its own, and it must not
forget the earlier seasons when it first retrains. So gardenbot ships, for its backbone:

    models/default/replay_buffer.gbrb     cells of the spring and summer TRAIN gardens
    models/default/adapters/v000001/      the default strategy trained on that buffer
    models/default/adapters/current.json  pointing at it
    models/default/defaults.json          how it was made (backbone, benchmark, recordings)

Made from a benchmark set written by `gardenbot synth --benchmark` (its manifest names the
train and held-out gardens; only train gardens are used — the sample recordings are of a
held-out garden). Rerun whenever the backbone changes: a buffer and an adapter belong to one
backbone (its sha256) and are refused by any other::

    gardenbot defaults --benchmark /path/to/bench --out models/default [--card CARD]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from robot.common.errors import LearnerError, RecordingError

log = logging.getLogger(__name__)

DEFAULT_SEASONS = ("spring", "summer")
DEFAULT_BUFFER_BYTES = 2_000_000  # the repository stays small; the robot's own buffer is larger
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "models" / "default"


def train_recordings(benchmark: Path, seasons: tuple[str, ...], year: int = 0) -> list[dict]:
    """The manifest's role=train recordings of ``seasons`` in ``year`` (never a test garden)."""
    from tools.garden.benchmark import BenchError, load_manifest

    try:
        # validated: a train recording of a held-out garden is refused there
        m = load_manifest(benchmark)
    except BenchError as e:  # the error `gardenbot defaults` has always raised for bad input
        raise RecordingError(str(e)) from None
    out = [{**r, "step": step["name"]} for step in m["steps"] for r in step["recordings"]
           if r["role"] == "train" and r["season"] in seasons and r["year"] == year]
    if not out:
        raise RecordingError(f"{benchmark / 'manifest.json'}: no train recordings of "
                             f"{', '.join(seasons)} (year {year})")
    return out


def recording_cells(backbone: Any, path: Path, season: str, rec_id: str, every: int) -> Any:
    """Labelled cells (source annotation) of every ``every``-th labelled frame of a recording."""
    from robot.common.samples import LabelledCells, cells_from_grid
    from robot.seeing.labels import cell_labels
    from robot.seeing.recording import Recording

    rec = Recording(path)
    k = len(rec.meta.classes)
    parts = []
    for n, frame in enumerate(rec.frames(labelled_only=True)):
        if n % every or frame.labels is None:
            continue
        feats = backbone.features(frame.image)
        truth = cell_labels(frame.labels, backbone.grid_hw, k)
        parts.append(cells_from_grid(feats, truth, num_classes=k, source="annotation",
                                     season=season, time_s=frame.t, recording=rec_id))
    return LabelledCells.concat(parts) if parts else LabelledCells.empty(backbone.feature_dim)


def make_defaults(benchmark: Path, out: Path, card: Path | None, variant: str,
                  seasons: tuple[str, ...], buffer_bytes: int, strategy: str, every: int,
                  seed: int) -> dict[str, Any]:
    from robot.common.classes import DEFAULT_CLASSES
    from robot.learning.config import BufferConfig, PublishConfig, TrainConfig
    from robot.learning.paths import LearnerPaths
    from robot.learning.replay_buffer import ReplayBuffer
    from robot.learning.retrain import RetrainJob, run_retrain
    from robot.seeing.backbone import Backbone

    t0 = time.perf_counter()
    backbone = Backbone(card, variant=variant, threads=2)
    recordings = train_recordings(benchmark, seasons)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    paths = LearnerPaths(tmp)
    tmp.mkdir(parents=True)
    buf = ReplayBuffer(backbone.feature_dim, backbone.backbone_id, DEFAULT_CLASSES,
                       BufferConfig(capacity_bytes=buffer_bytes), seed=seed)
    offered = 0
    for r in recordings:
        rec_id = f"{r['garden']}-{r['season']}-y{r.get('year', 0)}"
        cells = recording_cells(backbone, benchmark / r["path"], r["season"], rec_id, every)
        offered += len(cells)
        buf.add(cells)
        log.info("%s: %d cells offered, buffer holds %d", rec_id, len(cells), len(buf))
    buf.save(paths.buffer)
    features_s = time.perf_counter() - t0
    result = run_retrain(RetrainJob(
        str(paths.buffer), str(paths.store), train=TrainConfig(strategy=strategy),
        buffer=buf.config, publish=PublishConfig(), seed=seed, reason="defaults"))
    if not result["published"]:
        raise LearnerError(f"the default adapter was not published: {result['reason']}")
    info = {
        "format": "gardenbot-defaults",
        "backbone": {"card": str(backbone.card.path), "name": backbone.card.name,
                     "sha256": backbone.backbone_id, "variant": variant,
                     "feature_dim": backbone.feature_dim},
        "benchmark": {"path": str(benchmark), "seasons": list(seasons),
                      "recordings": [r["path"] for r in recordings],
                      "labelled_frame_step": every},
        "buffer": {**{k: v for k, v in buf.summary().items() if k != "backbone_sha256"},
                   "cells_offered": offered},
        "adapter": {"version": result["version"], "strategy": strategy,
                    "validation_score": result["candidate_score"],
                    "validation_cells": result["validation_cells"],
                    "train_config": asdict(TrainConfig(strategy=strategy))},
        "seconds": {"features": round(features_s, 1),
                    "total": round(time.perf_counter() - t0, 1)},
    }
    (tmp / "defaults.json").write_text(json.dumps(info, indent=2) + "\n")
    for p in (tmp / "learner_status.json", paths.store / ".lock",
              paths.store / ".learner.lock"):
        p.unlink(missing_ok=True)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return info


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str]) -> int:
    from robot.learning.config import STRATEGY_NAMES, TrainConfig

    p = argparse.ArgumentParser(prog="gardenbot defaults", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmark", type=Path, required=True,
                   help="benchmark set made by `gardenbot synth --benchmark` (read only)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help=f"output folder, replaced as a whole (default {DEFAULT_OUT})")
    p.add_argument("--card", type=Path, default=None,
                   help="backbone model card (default: the shipped models/backbone.json)")
    p.add_argument("--variant", default="int8", choices=("int8", "fp32"),
                   help="backbone file whose features fill the buffer: the one the robot runs")
    p.add_argument("--seasons", default=",".join(DEFAULT_SEASONS),
                   help="comma-separated seasons of the first year (default spring,summer)")
    p.add_argument("--buffer-bytes", type=int, default=DEFAULT_BUFFER_BYTES)
    p.add_argument("--strategy", default=TrainConfig.strategy, choices=STRATEGY_NAMES)
    p.add_argument("--every", type=int, default=1, help="use every N-th labelled frame")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    seasons = tuple(s.strip() for s in a.seasons.split(",") if s.strip())
    info = make_defaults(a.benchmark, a.out, a.card, a.variant, seasons, a.buffer_bytes,
                         a.strategy, max(1, a.every), a.seed)
    b, ad = info["buffer"], info["adapter"]
    print(f"backbone {info['backbone']['name']} ({info['backbone']['sha256'][:12]}…, "
          f"{info['backbone']['variant']})")
    print(f"replay buffer: {b['cells']} cells ({b['bytes']} bytes) from {b['cells_offered']} "
          f"offered; seasons {b['seasons']}; classes {b['classes']}")
    print(f"adapter v{ad['version']} ({ad['strategy']}): validation {ad['validation_score']:.3f} "
          f"on {ad['validation_cells']} held-out cells")
    print(f"wrote {a.out} ({folder_bytes(a.out) / 1e6:.2f} MB) in {info['seconds']['total']} s")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main(sys.argv[1:]))
