"""The continual-learning stream: steps of train and test sources, read from a benchmark manifest.

A *source* is one unit of feature extraction and caching: a recording folder, or a fixed list of
labelled images (the real track). A *step* is one season of the stream: the sources the learner
trains on, and the held-out sources that form that step's test set. The accuracy matrix has one
row per step (after training through it) and one column per step's test set.

The synthetic stream comes from the manifest (``manifest.json``) the garden generator writes
(`gardenbot synth --benchmark DIR`): ``steps: [{index, name, season, year, recordings: [{path,
garden, role (train|test), season, year, frames, labelled_frames}]}]``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robot.common.classes import DEFAULT_CLASSES

# The manifest is checked where it is written (tools/garden/benchmark.py); a stream is built on it.
from tools.garden.benchmark import MANIFEST, ROLES, BenchError, load_manifest

SOURCE_KINDS = ("recording", "ycor")


@dataclass(frozen=True)
class Source:
    """A recording folder (``kind="recording"``, one path) or YCOR image files (``"ycor"``)."""

    name: str  # unique within the stream; also the feature cache's file name
    kind: str
    paths: tuple[Path, ...]

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise BenchError(f"source {self.name!r}: unknown kind {self.kind!r}")
        if not self.paths:
            raise BenchError(f"source {self.name!r}: no files")

    def fingerprint(self) -> str:
        """Changes when the source's content may have changed (regenerated recording, other
        images): the feature cache is keyed on it."""
        h = hashlib.sha256(self.kind.encode())
        files: list[Path] = []
        for p in self.paths:
            if self.kind == "recording":
                files += [p / "meta.json", p / "frames.jsonl"]
                labels = p / "labels"
                h.update(str(sorted(os.listdir(labels)) if labels.is_dir() else []).encode())
            else:
                files += [p, p.with_name(p.stem + "_labels.png")]
        for f in files:
            try:
                st = f.stat()
            except OSError:
                raise BenchError(f"{f}: missing (source {self.name})") from None
            h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
            if f.name == "meta.json":
                h.update(f.read_bytes())  # carries the recording's creation time
        return h.hexdigest()


@dataclass(frozen=True)
class Step:
    index: int
    name: str  # e.g. "spring", "next_spring"
    season: str  # the season label the robot gives these cells (buffer strata, bank members)
    train: tuple[Source, ...]
    test: tuple[Source, ...]


@dataclass(frozen=True)
class Stream:
    name: str  # "synthetic" or "ycor"
    steps: tuple[Step, ...]
    classes: tuple[str, ...] = DEFAULT_CLASSES
    info: dict[str, Any] = field(default_factory=dict)  # provenance, shown in the report

    @property
    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]

    def sources(self) -> list[Source]:
        return [src for s in self.steps for src in (*s.train, *s.test)]


def require(cond: bool, where: Path, msg: str) -> None:
    if not cond:
        raise BenchError(f"{where}: {msg}")


def read_manifest(root: str | os.PathLike[str]) -> Stream:
    """The continual-learning stream of a synthetic benchmark set (at least two steps, each
    with train and test recordings); a clear BenchError for anything malformed."""
    root = Path(root)
    path = root / MANIFEST
    m = load_manifest(root)
    require(len(m["steps"]) >= 2, path, "needs a list of at least two 'steps'")
    steps = []
    for k, s in enumerate(m["steps"]):
        roles: dict[str, list[Source]] = {role: [] for role in ROLES}
        for r in s["recordings"]:
            roles[r["role"]].append(Source(r["path"], "recording", (root / r["path"],)))
        for role in ROLES:
            require(bool(roles[role]), path, f"step {s['name']!r} has no {role} recordings")
        steps.append(Step(k, s["name"], s["season"], tuple(roles["train"]),
                          tuple(roles["test"])))
    info = {"manifest": str(path.resolve()), "generator": m.get("generator"),
            "quick": m.get("quick"), "seed": m.get("seed"), "totals": m.get("totals"),
            "gardens": m.get("gardens")}
    return Stream("synthetic", tuple(steps), DEFAULT_CLASSES, info)
