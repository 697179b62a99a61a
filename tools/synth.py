"""`gardenbot synth`: synthetic seasonal garden recordings, the benchmark set and a preview.

    gardenbot synth --season summer --garden g06 --seconds 20 --out rec/   one recording
    gardenbot synth --benchmark data/bench [--quick] [--jobs 2]            the benchmark set
    gardenbot synth --preview preview.png [--gardens g06,g02,g07]           a contact sheet
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from robot.common.classes import SEASONS

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gardenbot synth",
        description="Generate synthetic seasonal garden recordings (see docs/synth.md).",
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", metavar="DIR", help="write one recording into DIR")
    mode.add_argument("--benchmark", metavar="DIR", help="write the seasonal benchmark set")
    mode.add_argument("--preview", metavar="PNG", help="write a contact sheet of the seasons")
    one = p.add_argument_group("one recording (--out)")
    one.add_argument("--season", choices=SEASONS, help="season to render")
    one.add_argument("--garden", help="garden id g00..g99 (g00-g05 train, g06-g07 held out)")
    one.add_argument("--seconds", type=float, help="length of the recording")
    one.add_argument("--fps", type=float, default=10.0, help="frame rate (default 10)")
    one.add_argument("--year", type=int, default=0, help="0 = first year, 1 = next year ...")
    one.add_argument("--label-every", type=int, default=1, metavar="N",
                     help="write a label map on every N-th frame (default 1)")
    bench = p.add_argument_group("benchmark set (--benchmark)")
    bench.add_argument("--quick", action="store_true", help="a small CI-sized set")
    bench.add_argument("--jobs", type=int, default=None,
                       help="worker processes (default: one per CPU core)")
    prev = p.add_argument_group("preview (--preview)")
    prev.add_argument("--gardens", default="g06,g02,g07",
                      help="comma-separated gardens shown in each row (default g06,g02,g07)")
    prev.add_argument("--scale", type=float, default=1.0,
                      help="resize the sheet by this factor (default 1)")
    p.add_argument("--seed", type=int, default=0, help="variation seed (default 0)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing recording / benchmark set at the target")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    if args.out is not None:
        return _one(parser, args)
    if args.benchmark is not None:
        return _benchmark(parser, args)
    return _preview(parser, args)


def _one(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from robot.common.errors import GardenbotError
    from tools.garden.generate import RecordingSpec, write_recording

    missing = [f"--{n}" for n in ("season", "garden", "seconds") if getattr(args, n) is None]
    if missing:
        parser.error(f"--out needs {', '.join(missing)}")
    try:
        spec = RecordingSpec(args.garden, args.season, args.seconds, args.fps, seed=args.seed,
                             year=args.year, label_every=args.label_every)
    except ValueError as e:
        parser.error(str(e))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise GardenbotError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "meta.json").exists():
        raise GardenbotError(f"{out}: folder is not empty and holds no recording; "
                             "choose an empty or new folder")
    _single_threaded_opencv()
    with tqdm(total=spec.frame_count, unit="frame", desc=f"{spec.garden} {spec.season}",
              disable=args.no_progress) as bar:
        summary = write_recording(spec, out, overwrite=args.overwrite, progress=bar.update)
    print(f"wrote {summary['frames']} frames ({summary['labelled_frames']} labelled) of "
          f"{spec.garden} ({spec.role}) in {spec.season} to {out}")
    return 0


def _single_threaded_opencv() -> None:
    """OpenCV's thread pool costs more than it gains on 320x240 frames (about 10 % measured)."""
    import cv2

    cv2.setNumThreads(1)


def _benchmark(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from tools.garden.benchmark import full_plan, quick_plan, write_benchmark

    if args.jobs is not None and args.jobs < 1:
        parser.error("--jobs must be >= 1")
    plan = quick_plan(args.seed) if args.quick else full_plan(args.seed)
    manifest = write_benchmark(args.benchmark, plan, jobs=args.jobs, overwrite=args.overwrite,
                               show_progress=not args.no_progress)
    tot, gen = manifest["totals"], manifest["generation"]
    print(f"wrote {tot['recordings']} recordings, {tot['frames']} frames "
          f"({tot['labelled_frames']} labelled) to {args.benchmark} in {gen['seconds']} s "
          f"({gen['frames_per_s']} frames/s, {gen['processes']} processes)")
    return 0


def _preview(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import cv2
    from tqdm import tqdm

    from robot.common.atomic import atomic_write_bytes
    from tools.garden.layout import parse_garden_id
    from tools.garden.preview import contact_sheet

    try:
        gardens = [parse_garden_id(g) for g in args.gardens.split(",") if g.strip()]
    except ValueError as e:
        parser.error(str(e))
    if not gardens:
        parser.error("--gardens needs at least one garden id")
    if not (0.1 <= args.scale <= 4.0):
        parser.error("--scale must be between 0.1 and 4")
    out = Path(args.preview)
    if out.suffix.lower() != ".png":
        parser.error(f"--preview writes a PNG: {out} should end in .png")
    with tqdm(total=(len(gardens) + 1) * len(SEASONS), unit="view", desc="preview",
              disable=args.no_progress) as bar:
        sheet = contact_sheet(gardens, seed=args.seed, progress=bar.update)
    if args.scale != 1.0:
        sheet = cv2.resize(sheet, None, fx=args.scale, fy=args.scale,
                           interpolation=cv2.INTER_AREA)
    ok, png = cv2.imencode(".png", sheet)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    atomic_write_bytes(out, png.tobytes())
    print(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]})")
    return 0
