"""`gardenbot backbone pretrain | export | probe | verify`."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)


def _size(text: str) -> tuple[int, int]:
    """'320x240' → (height, width) = (240, 320)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"size must look like 320x240, not {text!r}") from e
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError("size must be positive")
    return h, w


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gardenbot backbone",
                                description="Pretrain, export, probe and verify the backbone.")
    sub = p.add_subparsers(dest="cmd", required=True)

    pre = sub.add_parser("pretrain", help="self-supervised pretraining on unlabelled frames")
    pre.add_argument("--recordings", type=Path, nargs="*", default=[],
                     help="recording folders, or folders holding recordings (e.g. a benchmark "
                          "set; only role=train recordings of a manifest are used)")
    pre.add_argument("--images", type=Path, nargs="*", default=[],
                     help="folders of real images (e.g. ../shared/data/ycor/train)")
    pre.add_argument("--frame-step", type=int, default=5, help="take every Nth recorded frame")
    pre.add_argument("--max-frames", type=int, default=6000)
    pre.add_argument("--steps", type=int, default=None)
    pre.add_argument("--batch-size", type=int, default=None)
    pre.add_argument("--objective", choices=["infonce", "vicreg", "distill"], default=None,
                     help="distill: learn to predict the EfficientNet-Lite0 trunk's features "
                          "(needs gardenbot[pretrain])")
    pre.add_argument("--trunk", choices=["gardennet", "lite0"], default=None,
                     help="lite0: start from EfficientNet-Lite0's ImageNet weights, cut at "
                          "stride 16 (needs gardenbot[pretrain]); default gardennet")
    pre.add_argument("--arch", default=None, metavar="JSON",
                     help='GardenNet shape, e.g. \'{"stem": 16, "widths": [32, 64, 128], '
                          '"depths": [1, 2, 2], "feature_dim": 96, "expand": 3}\'')
    pre.add_argument("--colour", type=float, default=None,
                     help="strength of the photometric augmentation (0 = none, 1 = strongest)")
    pre.add_argument("--min-scale", type=float, default=None,
                     help="smallest crop, as a share of the frame's area (crops are then drawn "
                          "evenly in log area when below 0.2)")
    pre.add_argument("--local-negatives", action="store_true",
                     help="InfoNCE: cells of the same frame are negatives too")
    pre.add_argument("--appearance", type=float, default=None,
                     help="weight of the loss that predicts each cell's colour statistics "
                          "before augmentation (0 = off)")
    pre.add_argument("--synthetic-share", type=float, default=None,
                     help="share of each batch drawn from --recordings (default: in "
                          "proportion to the frames)")
    pre.add_argument("--teacher", choices=["lite0-grid", "lite0"], default=None,
                     help="with --objective distill: Lite0 with its stride-4/8 stages pooled "
                          "onto the cells (default), or its stride-16 stage alone")
    pre.add_argument("--lr", type=float, default=None)
    pre.add_argument("--seed", type=int, default=0)
    pre.add_argument("--out", type=Path, default=Path("runs/backbone"))
    pre.add_argument("--checkpoint-every", type=int, default=250)
    pre.add_argument("--snapshots", action="store_true",
                     help="also keep the weights of every checkpoint (snapshots/), to probe "
                          "the run along the way")
    pre.add_argument("--stop-after", type=int, default=None, metavar="N",
                     help="stop after N steps with a checkpoint; the same command resumes")
    pre.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    pre.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    pre.add_argument("--threads", type=int, default=None,
                     help="torch CPU threads (default: torch's choice; use 1 on a machine "
                          "busy with other work — OpenMP threads spin and fight otherwise)")

    ex = sub.add_parser("export", help="ONNX fp32 + static int8 + model card")
    src = ex.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="a `backbone pretrain` checkpoint")
    src.add_argument("--from-module", metavar="PKG.MODULE:FACTORY",
                     help="a torch module of your own: factory() returns an nn.Module mapping "
                          "normalised RGB (N,3,H,W) to features (N,C,h,w)")
    ex.add_argument("--out", type=Path, default=None, help="folder (default: the package's "
                                                          "models/)")
    ex.add_argument("--input-size", type=_size, default=(240, 320), help="WxH, default 320x240")
    ex.add_argument("--calibration", type=Path, nargs="+", required=True,
                    help="recordings or image folders to calibrate int8 on")
    ex.add_argument("--calibration-frames", type=int, default=300)
    ex.add_argument("--holdout", type=Path, nargs="*", default=[],
                    help="recordings or image folders to measure int8-vs-fp32 agreement on")
    ex.add_argument("--name", default=None)
    ex.add_argument("--mean", type=float, nargs=3, default=None, help="RGB mean (0..1)")
    ex.add_argument("--std", type=float, nargs=3, default=None, help="RGB std (0..1)")
    ex.add_argument("--probe", type=Path, default=None,
                    help="a probe results JSON to record in the card")
    ex.add_argument("--training-data", default=None, help="text for the card's training_data")
    ex.add_argument("--colour-stats", choices=["smooth", "full", "none"], default="smooth",
                    help="fixed per-cell colour statistics appended to the features: smooth = "
                         "means, spreads and gradient energy (13); full = also the colour and "
                         "lightness histograms (43), which make a probe fragile under a "
                         "season's colour shift (docs/backbone.md)")
    ex.add_argument("--no-colour-stats", action="store_true", help="the same as --colour-stats "
                    "none")

    pr = sub.add_parser("probe", help="linear probes: backbone vs random init vs colour baseline")
    pr.add_argument("--card", type=Path, help="an exported model card (onnxruntime)")
    pr.add_argument("--variant", choices=["fp32", "int8"], default="fp32")
    pr.add_argument("--synthetic", type=Path, help="a `gardenbot synth --benchmark` folder")
    pr.add_argument("--ycor", type=Path, help="the YCOR folder (train/ and valid/)")
    pr.add_argument("--folder", type=Path, nargs="+", default=[],
                    help="labelled folders of your own: meta.json (classes, to_gardenbot, "
                         "steps with train/test ids), images/<id>.jpg, labels/<id>.png "
                         "(docs/backbone.md, 'Probe on your own photos')")
    pr.add_argument("--purity", type=float, default=0.75,
                    help="a cell is labelled when one class covers this share of it")
    pr.add_argument("--shift", type=float, default=1.0,
                    help="strength of the season-like colour shift the test images are also "
                         "scored under (0 = not at all)")
    pr.add_argument("--baselines", action="store_true",
                    help="also probe the hand-crafted colour-and-texture baseline and the same "
                         "architecture randomly initialised (--seeds of them, and their mean)")
    pr.add_argument("--seeds", type=int, default=3, help="random initialisations to average")
    pr.add_argument("--out", type=Path, default=Path("runs/probe.json"))
    pr.add_argument("--threads", type=int, default=1, help="onnxruntime threads")

    ve = sub.add_parser("verify", help="check the model card and the sha256 of its files")
    ve.add_argument("--card", type=Path, default=None)
    return p


def cmd_pretrain(a: argparse.Namespace) -> int:
    """Runs alone or as every process of ``torchrun --nproc_per_node N -m
    robot.commands.gardenbot backbone pretrain ...`` (DistributedDataParallel: gloo on CPU,
    NCCL on GPUs)."""
    from dataclasses import replace

    import numpy as np
    import torch

    from tools.backbone.arch import ArchConfig
    from tools.backbone.data import collect_frames, train_recordings
    from tools.backbone.pretrain import FramePool, PretrainConfig, pretrain

    if not a.recordings and not a.images:
        raise SystemExit("gardenbot backbone pretrain: give --recordings and/or --images")
    if a.synthetic_share is not None and not (0 <= a.synthetic_share <= 1 and a.recordings
                                              and a.images):
        raise SystemExit("gardenbot backbone pretrain: --synthetic-share takes 0..1 and needs "
                         "both --recordings and --images")
    recs = [p for root in a.recordings for p in train_recordings(root)]
    parts = []
    if recs:
        parts.append(collect_frames(recs, [], a.frame_step, max_frames=a.max_frames,
                                    seed=a.seed))
    if a.images:
        parts.append(collect_frames([], a.images, a.frame_step, max_frames=a.max_frames,
                                    seed=a.seed))
    frames = np.concatenate(parts)
    weights = None
    if a.synthetic_share is not None:
        n_syn, n_real = len(parts[0]), len(parts[1])
        weights = np.concatenate([np.full(n_syn, a.synthetic_share / n_syn),
                                  np.full(n_real, (1 - a.synthetic_share) / n_real)])
    cfg = PretrainConfig(seed=a.seed)
    overrides = {k: v for k, v in (("steps", a.steps), ("batch_size", a.batch_size),
                                   ("objective", a.objective), ("trunk", a.trunk),
                                   ("appearance", a.appearance), ("lr", a.lr),
                                   ("teacher", a.teacher))
                 if v is not None}
    if a.local_negatives:
        overrides["local_negatives"] = True
    if a.arch:
        try:
            overrides["arch"] = ArchConfig.from_dict({**ArchConfig().to_dict(),
                                                      **json.loads(a.arch)})
        except (json.JSONDecodeError, TypeError, KeyError, ValueError) as e:
            raise SystemExit(f"gardenbot backbone pretrain: --arch: {e}") from e
    cfg = replace(cfg, **overrides)
    if cfg.steps < cfg.warmup_steps * 2:
        cfg = replace(cfg, warmup_steps=max(cfg.steps // 5, 1))
    aug = {}
    if a.colour is not None:
        aug["colour"] = a.colour
    if a.min_scale is not None:
        aug["min_scale"] = a.min_scale
        aug["log_area"] = a.min_scale < 0.2
    if aug:
        cfg = replace(cfg, augment=replace(cfg.augment, **aug))
    if a.threads:
        torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "data.json").write_text(json.dumps({
        "recordings": [str(p) for p in recs], "images": [str(p) for p in a.images],
        "frames": len(frames), "frame_step": a.frame_step,
        "synthetic_share": a.synthetic_share}, indent=2))
    log.info("pretraining on %d frames: %s, %d steps, batch %d", len(frames), cfg.objective,
             cfg.steps, cfg.batch_size)
    t0 = time.perf_counter()
    try:
        pretrain(FramePool(frames, weights), cfg, a.out, resume=not a.restart, device=a.device,
                 checkpoint_every=a.checkpoint_every, snapshots=a.snapshots,
                 stop_after=a.stop_after)
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    log.info("done in %.0f s; checkpoint %s", time.perf_counter() - t0, a.out / "checkpoint.pt")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from models import MODELS_DIR
    from tools.backbone.arch import MEAN_RGB, STD_RGB, CellColourStats, count_params
    from tools.backbone.export import (
        export_onnx,
        feature_agreement,
        grid_geometry,
        load_factory,
        machine_description,
        quantize_int8,
        run_onnx,
        write_card,
    )
    from tools.backbone.pretrain import load_trained

    out = a.out or MODELS_DIR
    out.mkdir(parents=True, exist_ok=True)
    extra: dict = {}
    if a.checkpoint:
        net, facts = load_trained(a.checkpoint)
        name = a.name or "gardennet"
        cfg = facts["config"]
        data_file = a.checkpoint.parent / "data.json"
        if cfg.get("trunk", "gardennet") == "lite0":
            from tools.backbone.lite0 import LICENCE, SOURCE

            extra["architecture"] = {"kind": "EfficientNet-Lite0 trunk, stride 16",
                                     "trunk": "lite0", "parameters": count_params(net)}
            extra["weights_source"] = {"initialisation": SOURCE, "licence": LICENCE}
        else:
            extra["architecture"] = {"kind": "GardenNet (depthwise-separable CNN)",
                                     **cfg["arch"], "parameters": count_params(net)}
        if cfg.get("objective") == "distill":
            from tools.backbone.lite0 import LICENCE, SOURCE

            extra["weights_source"] = {
                "teacher": f"{SOURCE} ({cfg.get('teacher', 'lite0-grid')})",
                "teacher_licence": LICENCE,
                "note": "the student's own weights were trained here, from random "
                        "initialisation, to predict the teacher's features on unlabelled "
                        "frames; the teacher's weights are not shipped"}
        extra["ssl_recipe"] = {k: v for k, v in cfg.items() if k != "arch"}
        extra["training"] = {
            "steps": facts["step"], "time_s": round(facts["elapsed_s"] or 0.0, 1),
            "machine": machine_description(),
            "data": json.loads(data_file.read_text()) if data_file.is_file() else None,
        }
    else:
        net = load_factory(a.from_module)
        name = a.name or a.from_module
        extra["architecture"] = {"kind": f"user module {a.from_module}",
                                 "parameters": count_params(net),
                                 **getattr(net, "gardenbot_architecture", {})}
        if hasattr(net, "gardenbot_source"):
            extra["weights_source"] = {"initialisation": net.gardenbot_source,
                                       "licence": getattr(net, "gardenbot_licence", "unknown")}
    if a.training_data:
        extra["training_data"] = a.training_data
    mean = tuple(a.mean) if a.mean else getattr(net, "gardenbot_mean_rgb", MEAN_RGB)
    std = tuple(a.std) if a.std else getattr(net, "gardenbot_std_rgb", STD_RGB)
    stride, net_dim = grid_geometry(net, a.input_size)
    groups = [{"name": "learned", "start": 0, "count": net_dim}]
    kind = "none" if a.no_colour_stats else a.colour_stats
    colour = None if kind == "none" else stride
    histograms = kind == "full"
    if colour:
        n_colour = CellColourStats(stride, histograms).channels
        groups.append({"name": "colour_stats", "start": net_dim, "count": n_colour,
                       "note": "fixed per-cell colour and texture statistics "
                               "(tools/backbone/arch.py CellColourStats"
                               + (")" if histograms else ", histograms=False)")})
    dim = sum(g["count"] for g in groups)
    fp32 = out / "backbone.onnx"
    int8 = out / "backbone.int8.onnx"
    log.info("exporting fp32 ONNX: input %s, stride %d, %d features", a.input_size, stride, dim)
    export_onnx(net, a.input_size, fp32, mean, std, colour, histograms)
    size_wh = (a.input_size[1], a.input_size[0])
    from tools.backbone.data import collect_frames, find_recordings, train_recordings

    def frames_of(paths: list[Path], n: int, seed: int):
        # of a benchmark set only its training gardens: held-out gardens stay unseen
        recs = [r for p in paths for r in train_recordings(p)]
        dirs = [p for p in paths if not find_recordings(p)]
        return collect_frames(recs, dirs, frame_step=3, size=size_wh, max_frames=n, seed=seed)

    calib = frames_of(a.calibration, a.calibration_frames, seed=1)
    log.info("calibrating int8 on %d frames", len(calib))
    quantize_int8(fp32, int8, list(calib))
    holdout = frames_of(a.holdout, 100, seed=2) if a.holdout else calib[-50:]
    agreement = feature_agreement(run_onnx(fp32, holdout), run_onnx(int8, holdout))
    agreement["frames_from"] = [str(p) for p in a.holdout] or ["calibration frames (no holdout)"]
    log.info("int8 vs fp32 per-cell cosine: mean %.4f, 5th percentile %.4f",
             agreement["cosine_mean"], agreement["cosine_p05"])
    extra["int8_agreement"] = agreement
    if a.probe:
        extra["probe"] = json.loads(a.probe.read_text())
    card = write_card(out, name, a.input_size, stride, dim, {"fp32": fp32, "int8": int8},
                      mean, std, extra, groups)
    print(f"wrote {fp32}, {int8} and {card}")
    return 0


def _onnx_extractors(card_path: Path, variant: str, name: str, threads: int) -> dict:
    """The whole feature grid of an exported backbone, and each of its channel groups alone."""
    from robot.seeing.backbone import Backbone

    bb = Backbone(card_path, variant=variant, threads=threads)
    out = {name: bb.features}
    groups = bb.card.raw["output"].get("channel_groups", [])
    if len(groups) > 1:
        for g in groups:
            lo, hi = g["start"], g["start"] + g["count"]
            out[f"{name}[{g['name']}]"] = lambda img, lo=lo, hi=hi: bb.features(img)[..., lo:hi]
    return out


def _check_probe_data(synthetic: Path | None, ycor: Path | None) -> None:
    """Refuse missing or malformed data before minutes of feature extraction, not after."""
    from tools.garden.benchmark import load_manifest

    if synthetic is not None:
        load_manifest(synthetic)  # a BenchError naming the file if missing or malformed
    if ycor is not None:
        missing = [s for s in ("train", "valid") if not (ycor / s).is_dir()]
        if missing:
            raise SystemExit(f"gardenbot backbone probe: {ycor}: no "
                             f"{' or '.join(m + '/' for m in missing)} folder (expected the "
                             "YCOR folder with train/ and valid/)")


def random_twin(card_raw: dict, seed: int) -> nn.Module:
    """The card's architecture with random weights (GardenNet unless it says Lite0)."""
    import torch

    from tools.backbone.arch import ArchConfig, GardenNet
    from tools.backbone.lite0 import Lite0Grid, Lite0Trunk

    arch = card_raw.get("architecture", {})
    torch.manual_seed(seed)
    if arch.get("trunk") == "lite0" and "taps" in arch:
        return Lite0Grid(Lite0Trunk(), tuple(arch["taps"]), int(arch.get("last", 10))).eval()
    if arch.get("trunk") == "lite0":
        return Lite0Trunk().eval()
    if "widths" in arch:
        return GardenNet(ArchConfig.from_dict(arch)).eval()
    return GardenNet(ArchConfig()).eval()


def _random_extractors(card_raw: dict, seed: int, colour: int, tmp: Path, threads: int,
                       ) -> dict:
    """The same architecture randomly initialised, exported the same way, as extractors."""
    from tools.backbone.arch import CellColourStats
    from tools.backbone.export import export_onnx, grid_geometry, write_card

    net = random_twin(card_raw, seed)
    stride, dim = grid_geometry(net, (240, 320))
    folder = tmp / f"random-{seed}"
    mean = card_raw.get("input", {}).get("normalisation", {}).get("mean_rgb", MEAN)
    std = card_raw.get("input", {}).get("normalisation", {}).get("std_rgb", STD)
    histograms = colour == CellColourStats(stride, True).channels
    export_onnx(net, (240, 320), folder / "backbone.onnx", mean, std,
                colour_stats=stride if colour else None, colour_histograms=histograms)
    groups = [{"name": "learned", "start": 0, "count": dim}]
    if colour:
        groups.append({"name": "colour_stats", "start": dim,
                       "count": CellColourStats(stride, histograms).channels})
    write_card(folder, "random-init", (240, 320), stride, sum(g["count"] for g in groups),
               {"fp32": folder / "backbone.onnx"}, mean, std, {}, groups)
    return _onnx_extractors(folder / "backbone.json", "fp32", f"random-init-{seed}", threads)


MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def cmd_probe(a: argparse.Namespace) -> int:
    import tempfile

    from robot.common.atomic import atomic_write_json
    from robot.seeing.backbone import load_card
    from tools.backbone.evaluate import compare, mean_of, summary_table
    from tools.backbone.folder import FolderError, load_folder
    from tools.backbone.probe import FeatureFn, colour_texture_features

    if not a.synthetic and not a.ycor and not a.folder:
        raise SystemExit("gardenbot backbone probe: give --synthetic, --ycor and/or --folder")
    if not a.card and not a.baselines:
        raise SystemExit("gardenbot backbone probe: give --card and/or --baselines")
    if not 0 < a.purity <= 1 or a.shift < 0 or a.seeds < 1:
        raise SystemExit("gardenbot backbone probe: --purity takes (0, 1], --shift >= 0, "
                         "--seeds >= 1")
    _check_probe_data(a.synthetic, a.ycor)
    folders = {}
    for path in a.folder:
        try:
            folders[path.name] = load_folder(path)
        except FolderError as e:
            raise SystemExit(f"gardenbot backbone probe: {e}") from e
    extractors: dict[str, FeatureFn] = {}
    card_raw: dict = {}
    colour = 13  # channels of colour statistics next to the random nets' (the card's, if any)
    if a.card:
        card = load_card(a.card)
        card_raw = card.raw
        extractors.update(_onnx_extractors(a.card, a.variant, "backbone", a.threads))
        colour = sum(g["count"] for g in card.raw["output"].get("channel_groups", [])
                     if g["name"] == "colour_stats")
    with tempfile.TemporaryDirectory() as tmp:
        if a.baselines:
            for seed in range(a.seeds):
                extractors.update(_random_extractors(card_raw, seed, colour, Path(tmp),
                                                     a.threads))
            extractors["colour-texture"] = colour_texture_features
        results = compare(extractors, a.synthetic, a.ycor, folders, a.purity, a.shift)
    if a.baselines:
        for suffix in ("", "[learned]", "[colour_stats]"):
            runs = [results[k] for seed in range(a.seeds)
                    if (k := f"random-init-{seed}{suffix}") in results]
            if runs:
                results[f"random-init{suffix} mean of {len(runs)}"] = mean_of(runs)
    results["_settings"] = {"purity": a.purity, "shift": a.shift, "variant": a.variant,
                            "card": str(a.card) if a.card else None}
    atomic_write_json(a.out, results)
    print(summary_table({k: v for k, v in results.items() if not k.startswith("_")}))
    print(f"\nfull results: {a.out}")
    return 0


def cmd_verify(a: argparse.Namespace) -> int:
    from robot.seeing.backbone import load_card, verify

    card = load_card(a.card)
    for variant in card.files:
        path = verify(card, variant)
        print(f"ok  {variant:<5} {path}  sha256 matches {card.path.name}")
    return 0


def main(argv: list[str]) -> int:
    a = build_parser().parse_args(argv)
    return {"pretrain": cmd_pretrain, "export": cmd_export, "probe": cmd_probe,
            "verify": cmd_verify}[a.cmd](a)
