"""`gardenbot adapter list | show VERSION | rollback VERSION`: the adapter store by hand."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from robot.adapter.store import AdapterStore
from robot.learning.paths import LearnerPaths, default_data_dir
from robot.learning.trial import read_verdicts


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gardenbot adapter",
                                description="List, inspect and roll back adapter versions.")
    p.add_argument("--data-dir", type=Path, default=None,
                   help=f"robot data folder (default ${{GARDENBOT_DATA}} or {default_data_dir()})")
    p.add_argument("--store", type=Path, help="adapter store folder (default: in the data folder)")
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="every version, the current one marked with *")
    show = sub.add_parser("show", help="a version's metadata as JSON")
    show.add_argument("version", type=int, nargs="?", help="default: the current version")
    rb = sub.add_parser("rollback", help="make VERSION the current adapter")
    rb.add_argument("version", type=int)
    return p


LIST_NOTE = """
score: the version's validation (mean over seasons of balanced accuracy) on the held-out buffer
cells of its own retrain; parent's: its parent version on those same cells. Each row was
measured on different cells, so compare a score with its parent's, not with another row.
trial: how the version drove in its first minute and first 30 m against its parent
(docs/learner.md, "On trial after publishing"); `gardenbot adapter show VERSION` gives the
verdict in full."""


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _trial(verdict: str) -> str:
    """The trial column: "on trial", "kept", "rolled back" or "-" (never tried)."""
    if verdict.startswith("rolled back"):
        return "rolled back"
    return "kept" if verdict.startswith("kept") else verdict or "-"


def _validated_on(validation: dict) -> str:
    """``721 (spring, summer, autumn)``: how many held-out cells, of which seasons."""
    if not validation.get("cells"):
        return "-"
    seasons = ", ".join((validation.get("scores") or {}).get("per_season") or {})
    return f"{validation['cells']}" + (f" ({seasons})" if seasons else "")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    paths = LearnerPaths(args.data_dir or (args.store.parent if args.store else None)
                         or default_data_dir())
    store = AdapterStore(args.store or paths.store)
    trials = read_verdicts(paths.trials)
    if args.action == "list":
        current = store.current_version()
        versions = store.versions()
        if not versions:
            print(f"no adapter versions in {store.root}")
            return 0
        rows = []
        for v in versions:
            m = v.meta
            val = m.get("validation") or {}
            rows.append(("*" if v.version == current else "", v.version, m.get("created", "?"),
                         m.get("strategy", "?"), _score(val.get("score")),
                         m.get("parent") or "-", _score(val.get("parent_score")),
                         _validated_on(val), _trial(trials.get(v.version, "")),
                         f"ERROR: {v.error}" if v.error else ",".join(m.get("classes", []))))
        width = max(len("on cells (seasons)"), *(len(r[7]) for r in rows))
        print(f"{'':1} {'version':>7}  {'created':<25} {'strategy':<9} {'score':>6} "
              f"{'parent':>6} {'parent':>8}'s  {'on cells (seasons)':<{width}}  "
              f"{'trial':<11}  classes / problem")
        for mark, version, created, strategy, score, parent, parents, on, trial, tail in rows:
            print(f"{mark:1} {version:>7}  {created:<25} {strategy:<9} {score:>6} "
                  f"{parent:>6} {parents:>10}  {on:<{width}}  {trial:<11}  {tail}")
        print(LIST_NOTE)
        return 0
    if args.action == "show":
        _, meta = store.load(args.version)
        version = meta.get("version")
        print(json.dumps({**meta, "trial": trials.get(version, "") if isinstance(version, int)
                          else ""}, indent=2))
        return 0
    before = store.current_version()
    store.rollback(args.version)
    print(f"current adapter: version {args.version} (was {before})")
    return 0
