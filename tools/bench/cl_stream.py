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
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robot.classes import DEFAULT_CLASSES
from robot.errors import GardenbotError

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "gardenbot-benchmark"
SOURCE_KINDS = ("recording", "ycor")


class BenchError(GardenbotError, ValueError):
    """A benchmark input is missing or malformed (manifest, data folder, cache). Names the file."""


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


def _require(cond: bool, where: Path, msg: str) -> None:
    if not cond:
        raise BenchError(f"{where}: {msg}")


def read_manifest(root: str | os.PathLike[str]) -> Stream:
    """The stream of a synthetic benchmark set; a clear BenchError for anything malformed."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise BenchError(f"{path}: no benchmark manifest (make a set with `gardenbot synth "
                         "--benchmark DIR`, or pass --quick to make a small one)")
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BenchError(f"{path}: not valid JSON: {e}") from None
    fmt = m.get("format") if isinstance(m, dict) else None
    _require(fmt == MANIFEST_FORMAT, path, f"not a gardenbot benchmark manifest (format {fmt!r})")
    steps_in = m.get("steps")
    _require(isinstance(steps_in, list) and len(steps_in) >= 2, path,
             "needs a list of at least two 'steps'")
    steps = []
    for k, s in enumerate(steps_in):
        try:
            name, season, recs = str(s["name"]), str(s["season"]), list(s["recordings"])
            roles = {"train": [], "test": []}
            for r in recs:
                role = str(r["role"])
                _require(role in roles, path, f"step {name!r}: recording {r['path']!r} has "
                         f"role {role!r}; expected train or test")
                rec_path = root / str(r["path"])
                _require((rec_path / "meta.json").is_file(), path,
                         f"step {name!r}: recording {rec_path} is missing")
                roles[role].append(Source(str(r["path"]), "recording", (rec_path,)))
        except (KeyError, TypeError) as e:
            raise BenchError(f"{path}: step {k} lacks or garbles a field: {e!r}") from None
        _require(bool(roles["train"]), path, f"step {name!r} has no train recordings")
        _require(bool(roles["test"]), path, f"step {name!r} has no test recordings")
        steps.append(Step(k, name, season, tuple(roles["train"]), tuple(roles["test"])))
    names = [s.name for s in steps]
    _require(len(set(names)) == len(names), path, f"step names repeat: {names}")
    info = {"manifest": str(path.resolve()), "generator": m.get("generator"),
            "quick": m.get("quick"), "seed": m.get("seed"), "totals": m.get("totals"),
            "gardens": m.get("gardens")}
    return Stream("synthetic", tuple(steps), DEFAULT_CLASSES, info)
