"""Versioned adapters on disk, a current pointer switched atomically, publish only if not worse.

    adapters/
      current.json          {"version": 7}  — replaced atomically; what perception runs
      v000007/adapter.onnx  the graph perception runs
      v000007/state.npz     the learner state the next retrain starts from
      v000007/meta.json     strategy, data counts, validation scores, parent, backbone, hashes

A version folder is written under a temporary name, fsynced and renamed, and only then can the
pointer move to it, so a power cut at any moment leaves the previous current adapter in place
and loadable. Every load checks the files against the sha256 in meta.json (corruption is an
error, never silently used) and the backbone the adapter was made for (a foreign adapter is
refused). Torch-free: perception's runner reads the store too.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from robot.adapter.exported import ExportedAdapter
from robot.adapter.state import LearnerState
from robot.common.atomic import atomic_write_json, fsync_dir
from robot.common.classes import traversable_ids
from robot.common.errors import GardenbotError, ModelError, StoreError
from robot.common.metrics import classification_scores, validation_score
from robot.common.samples import LabelledCells

log = logging.getLogger(__name__)

CURRENT_FILE = "current.json"
ADAPTER_FILE = "adapter.onnx"
STATE_FILE = "state.npz"
META_FILE = "meta.json"
STORE_FORMAT = "gardenbot-adapter-version"
_VERSION_DIR = re.compile(r"^v(\d{6,})$")


def version_dir_name(version: int) -> str:
    return f"v{version:06d}"


def frame_ids_of(cells: LabelledCells) -> np.ndarray:
    """Cells of one frame share recording and time: group them, for frame-level routing."""
    keys = np.char.add(np.char.add(cells.recording.astype(str), "@"),
                       cells.time_s.astype(str))
    return np.unique(keys, return_inverse=True)[1].reshape(-1)


def score_adapter(adapter: ExportedAdapter, cells: LabelledCells,
                  classes: tuple[str, ...]) -> dict[str, Any]:
    """Scores on labelled cells with ``classes`` (which may extend the adapter's own)."""
    pred = adapter.predict_cells(cells.features_f32(), frame_ids_of(cells))
    return classification_scores(set_label_truth(cells, pred.classes), pred.classes, classes,
                                 cells.season)


MIN_GROUP_CELLS = 50  # fewer known cells in a group say nothing about it


@dataclass(frozen=True)
class Traversability:
    """How an adapter would let the robot drive on cells whose ground is known (one group)."""

    drive: float | None  # share of known-drivable cells it calls lawn or path
    stop: float | None  # share of known-blocked cells it calls something else


def traversability(adapter: ExportedAdapter, cells: LabelledCells,
                   classes: tuple[str, ...]) -> Traversability:
    """What ``adapter`` makes of ground known to be drivable (every class the label allows is
    lawn or path: "drove here smoothly", a probe that got through, a lawn or path label) and
    known to be blocked (no class it allows is: a bump, a plant or obstacle label). A share
    over fewer than MIN_GROUP_CELLS cells is None."""
    ok = np.zeros(len(classes), bool)
    ok[list(traversable_ids(classes))] = True
    bits = np.int64(sum(1 << i for i in range(len(classes)) if ok[i]))
    single = ~cells.is_set
    drivable = np.zeros(len(cells), bool)
    blocked = np.zeros(len(cells), bool)
    drivable[single] = ok[cells.labels[single].astype(np.int64)]
    blocked[single] = ~drivable[single]
    allowed = cells.allowed[~single].astype(np.int64)
    drivable[~single] = (allowed & ~bits) == 0
    blocked[~single] = (allowed & bits) == 0
    known = drivable | blocked
    if not known.any():
        return Traversability(None, None)
    pred = adapter.predict_cells(cells.features_f32()[known], frame_ids_of(cells)[known]).classes
    drives = ok[np.asarray(pred, np.int64)]
    drivable, blocked = drivable[known], blocked[known]

    def share(hit: np.ndarray) -> float | None:
        return float(hit.mean()) if len(hit) >= MIN_GROUP_CELLS else None

    return Traversability(share(drives[drivable]), share(~drives[blocked]))


def set_label_truth(cells: LabelledCells, predicted: np.ndarray) -> np.ndarray:
    """Class ids to score ``predicted`` against: a set-label cell counts as right when the
    prediction is in its set (its truth is then the prediction), else as a miss of the set's
    lowest class id (a convention: the set does not say which class it missed)."""
    truth = cells.labels.astype(np.int64)
    sets = np.flatnonzero(cells.is_set)
    if len(sets):
        masks = cells.allowed[sets].astype(np.int64)
        pred = np.asarray(predicted, np.int64)[sets]
        hit = (masks >> pred) & 1 == 1
        lowest = np.log2(masks & -masks).astype(np.int64)
        truth[sets] = np.where(hit, pred, lowest)
    return truth


def _less_safe(candidate: ExportedAdapter, current: ExportedAdapter,
               validation: LabelledCells, classes: tuple[str, ...], margin: float,
               new_after_uid: int | None) -> str:
    """Why ``candidate`` would drive worse than ``current`` on today's garden ("" if it would
    not): on the held-out cells newer than ``new_after_uid`` (the ones the candidate's parent
    never saw), its balanced traversability — the mean of its drive share on the
    known-drivable cells and its stop share on the known-blocked ones — is below the current's
    by more than ``margin``. Balanced, because each share alone is won by an adapter that
    always drives or always stops: one that learns autumn's leaf-covered lawn trades a little
    of the old adapter's stopping everywhere for a lot of driving. Only today's cells: the
    earlier seasons are the validation score's to guard (their forgetting), and a check there
    refused retrains that learned a new season at a few points' cost to an old one."""
    if new_after_uid is None:
        return ""
    today = validation.take(validation.uid > new_after_uid)
    c = traversability(candidate, today, classes)
    k = traversability(current, today, classes)
    pairs = [(a, b) for a, b in ((c.drive, k.drive), (c.stop, k.stop))
             if a is not None and b is not None]
    if not pairs:
        return ""
    mine = sum(a for a, _ in pairs) / len(pairs)
    theirs = sum(b for _, b in pairs) / len(pairs)
    if mine >= theirs - margin:
        return ""
    return (f"on today's cells it would drive on {_share(c.drive)} of the known-drivable "
            f"ground and stop for {_share(c.stop)} of the known-blocked, the current adapter "
            f"on {_share(k.drive)} and for {_share(k.stop)} (balanced {mine:.3f} < "
            f"{theirs:.3f} - {margin})")


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


@dataclass(frozen=True)
class VersionInfo:
    version: int
    meta: dict[str, Any]  # empty when unreadable
    error: str | None  # why it cannot be loaded, or None


@dataclass(frozen=True)
class PublishDecision:
    published: bool
    version: int | None  # the new version when published
    candidate_score: float | None
    current_score: float | None
    current_version: int | None
    reason: str


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class AdapterStore:
    """The adapter versions of one robot. ``backbone_sha256`` / ``feature_dim``, when given,
    are what every loaded adapter must have been made for."""

    def __init__(self, root: str | os.PathLike[str], *, backbone_sha256: str | None = None,
                 feature_dim: int | None = None) -> None:
        self.root = Path(root)
        self.backbone_sha256 = backbone_sha256
        self.feature_dim = feature_dim

    # --- reading --------------------------------------------------------------------------

    def current_version(self) -> int | None:
        path = self.root / CURRENT_FILE
        try:
            data = json.loads(path.read_text())
            return int(data["version"])
        except FileNotFoundError:
            return None
        except OSError as e:  # unreadable now (permissions, I/O error): a store error, not a crash
            raise StoreError(f"{path}: cannot read the pointer ({e})") from None
        except (ValueError, KeyError, TypeError) as e:
            raise StoreError(f"{path}: corrupt pointer ({e})") from None

    def pointer_stamp(self) -> tuple[int, int, int] | None:
        """Changes whenever the current pointer is replaced (cheap: one stat)."""
        try:
            st = os.stat(self.root / CURRENT_FILE)
        except OSError:  # missing, or unreadable for now: nothing to switch to yet
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def version_numbers(self) -> list[int]:
        if not self.root.is_dir():
            return []
        found = (_VERSION_DIR.match(p.name) for p in self.root.iterdir() if p.is_dir())
        return sorted(int(m.group(1)) for m in found if m)

    def _meta(self, version: int) -> dict[str, Any]:
        path = self.root / version_dir_name(version) / META_FILE
        try:
            meta = json.loads(path.read_text())
        except FileNotFoundError:
            raise StoreError(f"adapter version {version} does not exist in {self.root}") from None
        except (ValueError, OSError) as e:
            raise StoreError(f"{path}: corrupt ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != STORE_FORMAT:
            raise StoreError(f"{path}: not a gardenbot adapter version")
        return meta

    def _read_checked(self, version: int, name: str, meta: dict[str, Any]) -> bytes:
        path = self.root / version_dir_name(version) / name
        try:
            data = path.read_bytes()
        except OSError as e:
            raise StoreError(f"{path}: cannot read ({e})") from None
        # meta.json itself has no checksum: a damaged one must be refused, not crash the caller
        files = meta.get("files")
        if not isinstance(files, dict) or not isinstance(files.get(name), str):
            raise StoreError(f"{path.parent / META_FILE}: no checksum for {name}; refusing it")
        if _sha256(data) != files[name]:
            raise StoreError(f"{path}: checksum mismatch, the file is corrupt; refusing it")
        return data

    def _check_foreign(self, meta: dict[str, Any], version: int) -> None:
        where = f"adapter version {version}"
        if self.feature_dim is not None and meta.get("feature_dim") != self.feature_dim:
            raise ModelError(f"{where} was made for {meta.get('feature_dim')}-channel "
                             f"features; the backbone gives {self.feature_dim}. Refusing it")
        if (self.backbone_sha256 is not None
                and meta.get("backbone_sha256") != self.backbone_sha256):
            raise ModelError(f"{where} was made for backbone "
                             f"{str(meta.get('backbone_sha256'))[:12]}…, not "
                             f"{self.backbone_sha256[:12]}…. Refusing it")

    def load(self, version: int | None = None) -> tuple[ExportedAdapter, dict[str, Any]]:
        """The adapter of ``version`` (default: current), verified, with its metadata."""
        version = self._resolve(version)
        meta = self._meta(version)
        self._check_foreign(meta, version)
        data = self._read_checked(version, ADAPTER_FILE, meta)
        adapter = ExportedAdapter.from_bytes(data, f"adapter version {version}")
        adapter.check_backbone(meta.get("backbone_sha256"), meta.get("feature_dim"),
                               f"adapter version {version}")
        return adapter, meta

    def load_state(self, version: int | None = None) -> LearnerState:
        version = self._resolve(version)
        meta = self._meta(version)
        self._check_foreign(meta, version)
        return LearnerState.from_bytes(self._read_checked(version, STATE_FILE, meta),
                                       f"learner state of version {version}")

    def parent_of(self, version: int) -> int | None:
        """The version that was current when ``version`` was published (None: the first, or
        its metadata cannot be read)."""
        try:
            parent = self._meta(version).get("parent")
        except StoreError:
            return None
        return parent if isinstance(parent, int) else None

    def _resolve(self, version: int | None) -> int:
        if version is not None:
            return version
        current = self.current_version()
        if current is None:
            raise StoreError(f"{self.root}: no adapter has been published yet")
        return current

    def versions(self) -> list[VersionInfo]:
        """Every version folder, oldest first, each with why it cannot be used (if so)."""
        out = []
        for v in self.version_numbers():
            try:
                self.load(v)
                out.append(VersionInfo(v, self._meta(v), None))
            except GardenbotError as e:
                try:
                    meta = self._meta(v)
                except StoreError:
                    meta = {}
                out.append(VersionInfo(v, meta, str(e)))
        return out

    # --- writing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time (the learner process and the CLI may both write)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def add_version(self, adapter: ExportedAdapter, state: LearnerState,
                    meta: dict[str, Any]) -> int:
        """Write a new version folder (the pointer does not move). Returns its number."""
        with self._locked():
            return self._add_version(adapter, state, meta)

    def _add_version(self, adapter: ExportedAdapter, state: LearnerState,
                     meta: dict[str, Any]) -> int:
        numbers = self.version_numbers()
        version = (numbers[-1] + 1) if numbers else 1
        state_bytes = state.to_bytes()
        full_meta = {
            "format": STORE_FORMAT,
            "version": version,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "strategy": adapter.strategy,
            "backbone_sha256": adapter.backbone_sha256,
            "feature_dim": adapter.feature_dim,
            "classes": list(adapter.classes),
            **meta,
            "files": {ADAPTER_FILE: _sha256(adapter.onnx_bytes), STATE_FILE: _sha256(state_bytes)},
        }
        final = self.root / version_dir_name(version)
        tmp = self.root / f".tmp-{version_dir_name(version)}-{os.getpid()}"
        try:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            for name, data in ((ADAPTER_FILE, adapter.onnx_bytes), (STATE_FILE, state_bytes),
                               (META_FILE, (json.dumps(full_meta, indent=2) + "\n").encode())):
                with open(tmp / name, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            fsync_dir(tmp)
            os.rename(tmp, final)
            fsync_dir(self.root)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            why = "the disk is full" if e.errno == errno.ENOSPC else str(e)
            raise StoreError(f"{self.root}: cannot save adapter version {version} ({why}); "
                             "the current adapter is unchanged") from e
        log.info("stored adapter version %d (%s)", version, adapter.strategy)
        return version

    def set_current(self, version: int) -> None:
        """Point perception at ``version`` (verified first), atomically."""
        with self._locked():
            self._set_current(version)

    def _set_current(self, version: int) -> None:
        self.load(version)  # refuses a corrupt or foreign version before the switch
        try:
            atomic_write_json(self.root / CURRENT_FILE, {"version": version})
        except OSError as e:
            raise StoreError(f"{self.root}: cannot switch to version {version} ({e}); "
                             "the current adapter is unchanged") from e
        log.info("current adapter is now version %d", version)

    def rollback(self, version: int) -> None:
        """Go back (or forward) to any stored version."""
        self.set_current(version)

    def clean_temporary(self) -> None:
        """Remove half-written (or half-deleted) version folders left by a crash (never a
        complete version). Under the lock: another writer's folder in progress is not a leftover.
        """
        if not self.root.is_dir():
            return
        with self._locked():
            for p in self.root.glob(".tmp-v*"):
                shutil.rmtree(p, ignore_errors=True)

    def prune(self, keep: int) -> list[int]:
        """Delete all but the ``keep`` newest versions, never the current one."""
        with self._locked():
            current = self.current_version()
            numbers = self.version_numbers()
            doomed = [v for v in numbers[:-keep] if v != current] if keep > 0 else []
            for v in doomed:
                self._delete_version(v)
            return doomed

    def _delete_version(self, version: int) -> None:
        """Rename first, then delete: a crash half-way leaves a temporary folder that
        clean_temporary() removes, never a half-deleted version that still looks like one."""
        doomed = self.root / f".tmp-{version_dir_name(version)}-deleted-{os.getpid()}"
        shutil.rmtree(doomed, ignore_errors=True)  # a leftover of the same name blocks the rename
        try:
            os.rename(self.root / version_dir_name(version), doomed)
        except OSError as e:
            log.warning("cannot prune adapter version %d: %s", version, e)
            return
        fsync_dir(self.root)
        shutil.rmtree(doomed, ignore_errors=True)

    def publish(
        self,
        adapter: ExportedAdapter,
        state: LearnerState,
        validation: LabelledCells,
        *,
        margin: float,
        meta: dict[str, Any] | None = None,
        force: bool = False,
        drivable_margin: float = 1.0,
        new_after_uid: int | None = None,
    ) -> PublishDecision:
        """Store and switch to ``adapter`` unless it validates worse than the current one.

        Both are scored with onnxruntime on ``validation`` (held-out buffer cells of every
        season seen so far); the score is the mean over seasons of balanced accuracy. The
        candidate is published if it scores at least current - ``margin`` and, on the
        validation cells newer than ``new_after_uid`` (today's garden), its balanced
        traversability (driving on known-drivable cells, stopping for known-blocked ones) is
        at least the current's less ``drivable_margin`` (:func:`_less_safe`; 1 or no
        ``new_after_uid`` = not checked).
        With no current adapter (or one for another backbone) it is published as the first;
        with a current adapter and no validation cells it is refused unless ``force``.
        """
        adapter.check_backbone(self.backbone_sha256, self.feature_dim, "candidate adapter")
        classes = adapter.classes
        with self._locked():
            current_version = self.current_version()
            current_scores = None
            if current_version is not None:
                try:
                    current, _ = self.load(current_version)
                    if len(validation):
                        current_scores = score_adapter(current, validation, classes)
                except GardenbotError as e:
                    log.warning("current adapter %s cannot be compared (%s); the candidate "
                                "is judged alone", current_version, e)
                    current_version = None
            cand_scores = score_adapter(adapter, validation, classes) if len(validation) else None
            cand = validation_score(cand_scores) if cand_scores else None
            cur = validation_score(current_scores) if current_scores else None
            if current_version is None:
                ok, reason = True, "first adapter for this backbone"
            elif cand is None:
                ok = force
                reason = ("forced without validation" if force else
                          "no held-out cells to validate against; not published")
            elif cand >= cur - margin:
                ok, reason = True, f"validation {cand:.4f} >= current {cur:.4f} - {margin}"
                if drivable_margin < 1.0:
                    worse = _less_safe(adapter, current, validation, classes,
                                       drivable_margin, new_after_uid)
                    if worse:
                        ok, reason = force, worse + (" (forced)" if force else "")
            else:
                ok, reason = force, f"validation {cand:.4f} < current {cur:.4f} - {margin}"
                if force:
                    reason += " (forced)"
            if not ok:
                log.warning("candidate adapter not published: %s", reason)
                return PublishDecision(False, None, cand, cur, current_version, reason)
            version = self._add_version(adapter, state, {
                **(meta or {}),
                "parent": current_version,
                "validation": {"cells": len(validation), "score": cand, "scores": cand_scores,
                               "parent_score": cur},
                "publish_reason": reason,
            })
            self._set_current(version)
        return PublishDecision(True, version, cand, cur, current_version, reason)
