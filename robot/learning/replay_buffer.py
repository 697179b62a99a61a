"""The replay buffer: int8 features of labelled cells, capped in bytes, saved crash-safe.

The robot's whole memory of earlier seasons. It holds no images, only the backbone's per-cell
features with label, label source, season, time and recording id. What it keeps when full is
chosen by a policy (docs/learner.md, "Replay buffer"):

- ``balanced`` (default): class- and season-balanced reservoir. Cells are grouped into strata
  (label, season), where the label of a set-label cell is its set ({lawn, path} is one stratum,
  apart from lawn and from path). A new cell of a stratum smaller than the largest one always
  gets in and evicts a random cell of a largest stratum; a cell of a largest stratum replaces a
  random member of its own stratum with the reservoir probability count/seen, so each stratum
  stays a uniform sample of its own stream. Rare classes and old seasons keep an equal share
  instead of fading away.
- ``reservoir``: plain reservoir sampling over the whole stream (the baseline it is measured
  against in docs/benchmarks.md).

File (little-endian), format version 3::

    b"GBREPLAY" | u32 format version | u32 header length | header JSON |
    feature scale f32 (C) | features i8 (n, C) | label u8 (n) | source u8 (n) | season u8 (n) |
    recording u16 (n) | time_s f64 (n) | uid i64 (n) | sha256 of everything before (32 bytes)

Features are stored as int8 with one scale per channel (feature = q · scale): a cell costs C + 21
bytes instead of 2C + 21 for float16, so the same bytes hold almost twice the cells (more
remembered cells measurably help replay: docs/benchmarks.md, "Recipe"). The error is at most
half a step, scale/2 — about 1 % of a channel's spread on the shipped backbone's features. A
channel's scale is set by the first cells (their largest |value| with 25 % headroom) and widened
when a later cell goes beyond it (the stored cells of that channel are re-encoded), so nothing is
ever clipped.

Set labels (robot/common/samples.py: a bitmask of allowed classes) cost no bytes per cell: the
header's ``label_sets`` lists the distinct sets' bitmasks, and a label byte b >= 256 - len(
label_sets) means the set ``label_sets[255 - b]`` (a byte below it is a class id). So classes and
distinct sets together are at most 256. Version 2 (float16 features, no scale column) and version
1 (float16, before set labels: no ``label_sets``) still load — their features are encoded as int8
on loading, and the next save writes version 3. The file never exceeds ``capacity_bytes``. Numpy
only: perception and the runtime use it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import struct
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robot.common.atomic import atomic_write_bytes
from robot.common.classes import UNLABELLED
from robot.common.errors import ReplayBufferError
from robot.common.samples import (
    LABEL_SOURCES,
    MAX_SET_CLASSES,
    LabelledCells,
    make_cells,
    set_name,
    validate_cells,
)
from robot.learning.config import BUFFER_POLICIES, BufferConfig

log = logging.getLogger(__name__)

MAGIC = b"GBREPLAY"
FORMAT_VERSION = 3
_READABLE_VERSIONS = (1, 2, 3)  # 1: before set labels; 1 and 2: float16 features, no scale
_PREFIX = struct.Struct("<8sII")  # magic, format version, header length
_DIGEST_BYTES = 32
META_BYTES_PER_CELL = 1 + 1 + 1 + 2 + 8 + 8  # label, source, season, recording, time_s, uid
_HEADER_SLACK_BYTES = 4096  # room for the header to grow within one add() before it is re-measured
_MAX_SEASONS = 255
_MAX_RECORDINGS = 65535
_MAX_NAME_CHARS = 64
_MAX_CLASSES = UNLABELLED  # ids 0..254
_Q_MAX = 127  # int8 features: q in -127..127 (symmetric; -128 unused)
_SCALE_HEADROOM = 1.25  # a new scale leaves room for values 25 % beyond those that set it


def is_validation_uid(uid: np.ndarray, fraction: float) -> np.ndarray:
    """Stable held-out split: a cell is in the validation slice for its whole life.

    A multiplicative hash of the uid spreads consecutive cells evenly, so every class and
    season gets its share, and no adapter version ever trains on a validation cell.
    """
    h = (np.asarray(uid, np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)
    return h.astype(np.float64) / 2**32 < fraction


def cell_bytes(feature_dim: int) -> int:
    return feature_dim + META_BYTES_PER_CELL  # int8 features + metadata


def scale_bytes(feature_dim: int) -> int:
    return 4 * feature_dim  # one float32 scale per channel, once per file


_CHUNK_ROWS = 8192  # rows converted at a time (a season of the benchmark is 140,000 cells)


def widened_scale(scale: np.ndarray, features: np.ndarray) -> np.ndarray:
    """The per-channel scale that holds both the cells already encoded with ``scale`` and
    ``features`` ((n, C) float) without clipping: unchanged where they fit, else their largest
    |value| with headroom, so that a slowly growing range is not re-encoded each time."""
    need = np.zeros_like(scale, dtype=np.float32)
    for i in range(0, len(features), _CHUNK_ROWS):
        chunk = np.abs(np.asarray(features[i: i + _CHUNK_ROWS], np.float32)).max(axis=0)
        need = np.maximum(need, chunk / _Q_MAX)
    return np.where(need > scale, need * _SCALE_HEADROOM, scale).astype(np.float32)


def quantize(features: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """float (n, C) -> int8 with the per-channel ``scale`` (a channel of scale 0 holds 0)."""
    inv = np.where(scale > 0, 1.0 / np.where(scale > 0, scale, 1.0), 0.0).astype(np.float32)
    out = np.empty(np.shape(features), np.int8)
    for i in range(0, len(features), _CHUNK_ROWS):
        q = np.rint(np.asarray(features[i: i + _CHUNK_ROWS], np.float32) * inv)
        out[i: i + _CHUNK_ROWS] = np.clip(q, -_Q_MAX, _Q_MAX)
    return out


def dequantize(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """int8 (n, C) -> float16 features (what LabelledCells from the buffer always held)."""
    return (q.astype(np.float32) * scale).astype(np.float16)


def label_key(label: int, allowed: int) -> int:
    """The label part of a stratum: the class id of a single label, 256 + the set's bitmask
    for a set label (so every distinct set is a stratum of its own)."""
    return 256 + int(allowed) if allowed else int(label)


class ReplayBuffer:
    """A bytes-capped, policy-selected memory of labelled cells for one backbone."""

    def __init__(
        self,
        feature_dim: int,
        backbone_sha256: str,
        classes: Sequence[str],
        config: BufferConfig | None = None,
        seed: int = 0,
    ) -> None:
        if feature_dim < 1:
            raise ReplayBufferError(f"feature_dim must be >= 1, got {feature_dim}")
        if not backbone_sha256:
            raise ReplayBufferError("a replay buffer needs the backbone's sha256")
        self.feature_dim = int(feature_dim)
        self.backbone_sha256 = str(backbone_sha256)
        self.classes: tuple[str, ...] = tuple(classes)
        self._check_class_count(self.classes)
        self.config = config or BufferConfig()
        self.total_seen = 0  # cells ever offered to add()
        self.next_uid = 0
        self._rng = np.random.default_rng(seed)
        self._seasons: list[str] = []
        self._recordings: list[str] = []
        self._seen: Counter[tuple[int, str]] = Counter()  # (label_key, season) -> offered
        self._n = 0
        self._counts: Counter[int] = Counter()  # stratum -> cells in the buffer
        self._allowed = np.zeros(0, np.uint16)  # the header (sized before _alloc) reads it
        self._scale = np.zeros(self.feature_dim, np.float32)  # per channel; 0 = nothing yet
        self._alloc(min(self._max_cells(self._header_bytes()), 1024))

    # --- capacity -------------------------------------------------------------------------

    def _alloc(self, n: int) -> None:
        n = max(n, 1)
        c = self.feature_dim
        self._features = np.zeros((n, c), np.int8)  # times self._scale per channel
        self._labels = np.zeros(n, np.uint8)
        self._allowed = np.zeros(n, np.uint16)  # set-label bitmask; on disk via label_sets
        self._source = np.zeros(n, np.uint8)
        self._season = np.zeros(n, np.uint8)
        self._recording = np.zeros(n, np.uint16)
        self._time = np.zeros(n, np.float64)
        self._uid = np.zeros(n, np.int64)
        self._stratum = np.zeros(n, np.int32)  # label_key * 256 + season index, derived

    def _grow_to(self, n: int) -> None:
        if n <= len(self._labels):
            return
        n = max(n, 2 * len(self._labels))
        old = self._columns()
        self._alloc(n)
        for dst, src in zip(self._columns(), old, strict=True):
            dst[: self._n] = src[: self._n]

    def _columns(self) -> tuple[np.ndarray, ...]:
        return (self._features, self._labels, self._allowed, self._source, self._season,
                self._recording, self._time, self._uid, self._stratum)

    def _max_cells(self, header_bytes: int) -> int:
        fixed = _PREFIX.size + header_bytes + scale_bytes(self.feature_dim) + _DIGEST_BYTES
        return max(0, (self.config.capacity_bytes - fixed) // cell_bytes(self.feature_dim))

    @property
    def max_cells(self) -> int:
        """How many cells fit with the header as it is now."""
        return self._max_cells(self._header_bytes())

    @property
    def nbytes(self) -> int:
        """Size of the file save() would write."""
        return (_PREFIX.size + self._header_bytes() + scale_bytes(self.feature_dim)
                + self._n * cell_bytes(self.feature_dim) + _DIGEST_BYTES)

    def __len__(self) -> int:
        return self._n

    # --- adding ---------------------------------------------------------------------------

    @staticmethod
    def _new_names(table: list[str], names: np.ndarray) -> tuple[list[str], np.ndarray, list[str]]:
        """(each distinct name, shortened; index of each row's name in that list; names not in
        ``table`` yet) — nothing is appended, so every limit can be checked first."""
        uniq, inverse = np.unique(names.astype(str), return_inverse=True)
        short = [str(u)[:_MAX_NAME_CHARS] for u in uniq]
        new = [u for u in dict.fromkeys(short) if u not in table]
        return short, inverse.reshape(-1), new

    @staticmethod
    def _append_names(table: list[str], short: list[str], inverse: np.ndarray,
                      new: list[str]) -> np.ndarray:
        """Append ``new`` to ``table``; the table index of every row's name."""
        table.extend(new)
        return np.array([table.index(u) for u in short], np.int64)[inverse]

    @staticmethod
    def _check_class_count(classes: Sequence[str], sets: int = 0) -> None:
        # Labels are uint8 and id 255 means "unlabelled": a 256th class would collide with it.
        if len(classes) > _MAX_CLASSES:
            raise ReplayBufferError(f"{len(classes)} classes; a buffer holds at most "
                                    f"{_MAX_CLASSES} (label {UNLABELLED} means unlabelled)")
        # On disk the top label bytes name the distinct set labels (see the module docstring).
        if len(classes) + sets > 256:
            raise ReplayBufferError(f"{len(classes)} classes and {sets} distinct set labels; "
                                    "a buffer holds at most 256 together")

    def _label_sets(self) -> list[int]:
        """The distinct set labels in the buffer (bitmasks, ascending)."""
        masks = np.unique(self._allowed[: self._n])
        return [int(m) for m in masks if m]

    def _disk_labels(self) -> np.ndarray:
        """The label column as written: class id, or 255 - index into label_sets for a set."""
        n = self._n
        out = self._labels[:n].copy()
        for j, m in enumerate(self._label_sets()):
            out[self._allowed[:n] == m] = 255 - j
        return out

    def add_class(self, name: str) -> int:
        """Append a class to the class map (ids of existing classes never change)."""
        if name in self.classes:
            raise ReplayBufferError(f"class {name!r} is already in the class map")
        classes = (*self.classes, name)
        self._check_class_count(classes, len(self._label_sets()))
        self.classes = classes
        return len(self.classes) - 1

    def extend_classes(self, classes: Sequence[str], where: str = "replay buffer") -> None:
        """Adopt ``classes``, which must start with the current ones in the same order (stored
        labels are ids into the list; a class added later goes at the end)."""
        classes = tuple(classes)
        if classes[: len(self.classes)] != self.classes:
            raise ReplayBufferError(
                f"{where}: holds classes {list(self.classes)}; the configured class list "
                f"{list(classes)} must start with them in the same order")
        self._check_class_count(classes, len(self._label_sets()))
        self.classes = classes

    def add(self, cells: LabelledCells) -> int:
        """Offer cells to the buffer; the policy decides which stay. Returns how many got in.

        Everything is checked before anything changes: a bad batch is refused whole.
        """
        if cells.feature_dim != self.feature_dim:
            raise ReplayBufferError(
                f"cells have {cells.feature_dim} feature channels; this buffer holds "
                f"{self.feature_dim} (backbone {self.backbone_sha256[:12]}). Features from "
                "another backbone cannot be mixed in")
        validate_cells(cells, len(self.classes), self.feature_dim)
        n_new = len(cells)
        if n_new == 0:
            return 0
        sets = set(self._label_sets()) | {int(m) for m in np.unique(cells.allowed) if m}
        self._check_class_count(self.classes, len(sets))
        if (len(self._seasons) + len(np.unique(cells.season)) > _MAX_SEASONS
                or len(self._recordings) + len(np.unique(cells.recording)) > _MAX_RECORDINGS):
            self._compact_tables()  # drops only names no cell uses: the content is the same
        seasons = self._new_names(self._seasons, cells.season)
        recordings = self._new_names(self._recordings, cells.recording)
        for table, names, limit, what in ((self._seasons, seasons, _MAX_SEASONS, "season"),
                                          (self._recordings, recordings, _MAX_RECORDINGS,
                                           "recording")):
            if len(table) + len(names[2]) > limit:
                raise ReplayBufferError(f"more than {limit} distinct {what} names in the buffer")
        season_idx = self._append_names(self._seasons, *seasons)
        rec_idx = self._append_names(self._recordings, *recordings)
        src_idx = np.array([LABEL_SOURCES.index(str(s)) for s in cells.source], np.uint8)
        feats = self._encode(cells.features)  # after every check: may re-encode stored cells
        max_n = self._max_cells(self._header_bytes() + _HEADER_SLACK_BYTES)
        self._grow_to(max(self._n, min(max_n, self._n + n_new)))
        accepted = 0
        for i in range(n_new):
            row = (feats[i], cells.labels[i], cells.allowed[i], src_idx[i], season_idx[i],
                   rec_idx[i], cells.time_s[i], self.next_uid)
            self.next_uid += 1
            self.total_seen += 1
            key = (label_key(cells.labels[i], cells.allowed[i]), self._seasons[season_idx[i]])
            self._seen[key] += 1
            slot = self._choose_slot(key, max_n)
            if slot is None:
                continue
            self._write(slot, row)
            accepted += 1
        self._enforce_capacity()
        return accepted

    def _encode(self, features: np.ndarray) -> np.ndarray:
        """int8 rows for ``features``; widens the scale of any channel they exceed first,
        re-encoding the stored cells of those channels (never clipping a value)."""
        scale = widened_scale(self._scale, features)
        grown = np.flatnonzero(scale != self._scale)
        if len(grown) and self._n:
            n = self._n
            old = self._features[:n, grown].astype(np.float32) * self._scale[grown]
            self._features[:n, grown] = quantize(old, scale[grown])
        self._scale = scale
        return quantize(features, scale)

    def _write(self, slot: int, row: tuple[Any, ...]) -> None:
        if slot < self._n:
            self._counts[int(self._stratum[slot])] -= 1
        (self._features[slot], self._labels[slot], self._allowed[slot], self._source[slot],
         self._season[slot], self._recording[slot], self._time[slot], self._uid[slot]) = row
        key = label_key(self._labels[slot], self._allowed[slot]) * 256 + int(self._season[slot])
        self._stratum[slot] = key
        self._counts[key] += 1
        if slot == self._n:
            self._n += 1

    def _rebuild_strata(self) -> None:
        n = self._n
        keys = np.where(self._allowed[:n] != 0, 256 + self._allowed[:n].astype(np.int32),
                        self._labels[:n].astype(np.int32))
        self._stratum[:n] = keys * 256 + self._season[:n]
        self._counts = Counter(self._stratum[:n].tolist())

    def _largest_strata(self) -> tuple[list[int], int]:
        top = max(self._counts.values())
        return [k for k, c in self._counts.items() if c == top], top

    def _random_member(self, stratum: int) -> int:
        members = np.flatnonzero(self._stratum[: self._n] == stratum)
        return int(members[self._rng.integers(len(members))])

    def _choose_slot(self, key: tuple[int, str], max_n: int) -> int | None:
        """Where the new cell goes: a free slot, a victim's slot, or None (dropped)."""
        if self._n < max_n:
            return self._n
        if max_n == 0:
            return None
        if self.config.policy == "reservoir":
            j = int(self._rng.integers(self.total_seen))
            return j if j < self._n else None
        own = key[0] * 256 + self._seasons.index(key[1])
        largest, top = self._largest_strata()
        own_count = self._counts.get(own, 0)
        if own_count >= top:
            if self._rng.random() * self._seen[key] >= own_count:
                return None
            victim = own
        else:
            victim = largest[int(self._rng.integers(len(largest)))]
        return self._random_member(victim)

    def _evict_one(self) -> None:
        if self.config.policy == "reservoir":
            slot = int(self._rng.integers(self._n))
        else:
            largest, _ = self._largest_strata()
            slot = self._random_member(largest[int(self._rng.integers(len(largest)))])
        last = self._n - 1
        self._counts[int(self._stratum[slot])] -= 1
        for arr in self._columns():
            arr[slot] = arr[last]
        self._n -= 1
        self._counts = +self._counts  # drop strata that emptied

    def _enforce_capacity(self) -> None:
        while self._n > self.max_cells:
            self._evict_one()

    def _compact_tables(self) -> None:
        """Drop season and recording names no cell uses any more, renumbering the rest."""
        n = self._n
        for table, column in ((self._seasons, self._season), (self._recordings, self._recording)):
            used = np.unique(column[:n])
            remap = np.zeros(max(len(table), 1), column.dtype)
            remap[used] = np.arange(len(used), dtype=column.dtype)
            names = [table[i] for i in used]
            column[:n] = remap[column[:n]]
            table[:] = names
        self._rebuild_strata()
        live = set(self._seasons)
        # Seen counts of seasons no longer in the buffer only matter if that season comes back.
        self._seen = Counter({k: v for k, v in self._seen.items() if k[1] in live})

    # --- reading --------------------------------------------------------------------------

    def cells(self) -> LabelledCells:
        """Every cell in the buffer (features decoded to float16), with its uid."""
        n = self._n
        seasons = np.array(self._seasons or [""], dtype="U32")
        recordings = np.array(self._recordings or [""], dtype="U64")
        return make_cells(
            dequantize(self._features[:n], self._scale), self._labels[:n].copy(),
            source=np.array(LABEL_SOURCES, dtype="U16")[self._source[:n]],
            season=seasons[self._season[:n]], time_s=self._time[:n].copy(),
            recording=recordings[self._recording[:n]], uid=self._uid[:n].copy(),
            allowed=self._allowed[:n].copy(),
        )

    def split(self) -> tuple[LabelledCells, LabelledCells]:
        """(training cells, held-out validation cells); the split is fixed per cell."""
        cells = self.cells()
        val = is_validation_uid(cells.uid, self.config.validation_fraction)
        return cells.take(~val), cells.take(val)

    def count_newer_than(self, uid: int, sources: Sequence[str] = ()) -> int:
        """Cells in the buffer with a uid above ``uid`` (e.g. a parent's trained_upto_uid),
        only those of the label ``sources`` when given."""
        newer = self._uid[: self._n] > uid
        if sources:
            ids = [LABEL_SOURCES.index(s) for s in sources]
            newer &= np.isin(self._source[: self._n], ids)
        return int(newer.sum())

    def class_counts(self) -> dict[str, int]:
        """Single-label cells per class (set-label cells: :meth:`set_counts`)."""
        single = self._allowed[: self._n] == 0
        counts = np.bincount(self._labels[: self._n][single], minlength=len(self.classes))
        return {name: int(c) for name, c in zip(self.classes, counts, strict=False)}

    def set_counts(self) -> dict[str, int]:
        """Set-label cells per set, named like "lawn|path"."""
        masks, counts = np.unique(self._allowed[: self._n], return_counts=True)
        return {set_name(int(m), self.classes): int(c)
                for m, c in zip(masks, counts, strict=True) if m}

    def season_counts(self) -> dict[str, int]:
        counts = np.bincount(self._season[: self._n], minlength=len(self._seasons))
        return {name: int(c) for name, c in zip(self._seasons, counts, strict=True) if c}

    def summary(self) -> dict[str, Any]:
        return {
            "cells": self._n, "max_cells": self.max_cells, "bytes": self.nbytes,
            "capacity_bytes": self.config.capacity_bytes, "policy": self.config.policy,
            "feature_dim": self.feature_dim, "backbone_sha256": self.backbone_sha256,
            "total_seen": self.total_seen, "classes": self.class_counts(),
            "label_sets": self.set_counts(), "seasons": self.season_counts(),
        }

    # --- persistence ----------------------------------------------------------------------

    def _header(self) -> dict[str, Any]:
        return {
            "format": "gardenbot-replay-buffer",
            "feature_encoding": "int8, one float32 scale per channel",
            "backbone_sha256": self.backbone_sha256,
            "feature_dim": self.feature_dim,
            "classes": list(self.classes),
            "capacity_bytes": self.config.capacity_bytes,
            "policy": self.config.policy,
            "validation_fraction": self.config.validation_fraction,
            "count": self._n,
            "total_seen": self.total_seen,
            "next_uid": self.next_uid,
            "seasons": self._seasons,
            "recordings": self._recordings,
            "sources": list(LABEL_SOURCES),
            "label_sets": self._label_sets(),
            "seen": [[k[0], k[1], v] for k, v in sorted(self._seen.items())],
            "rng": self._rng.bit_generator.state,
        }

    def _header_bytes(self) -> int:
        return len(json.dumps(self._header(), separators=(",", ":")).encode())

    def to_bytes(self) -> bytes:
        self._compact_tables()
        n = self._n
        header = json.dumps(self._header(), separators=(",", ":")).encode()
        body = b"".join([
            _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header)), header,
            self._scale.astype("<f4").tobytes(), self._features[:n].astype("i1").tobytes(),
            self._disk_labels().tobytes(), self._source[:n].tobytes(), self._season[:n].tobytes(),
            self._recording[:n].astype("<u2").tobytes(), self._time[:n].astype("<f8").tobytes(),
            self._uid[:n].astype("<i8").tobytes(),
        ])
        return body + hashlib.sha256(body).digest()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically (temp file, fsync, rename); on any failure the old file stays."""
        data = self.to_bytes()
        if len(data) > self.config.capacity_bytes:  # cannot happen unless the code is wrong
            raise ReplayBufferError(
                f"{path}: {len(data)} bytes exceeds the capacity {self.config.capacity_bytes}")
        try:
            atomic_write_bytes(path, data)
        except OSError as e:
            why = "the disk is full" if e.errno == errno.ENOSPC else str(e)
            raise ReplayBufferError(
                f"{path}: cannot save the replay buffer ({why}); the previous file is kept"
            ) from e
        log.debug("saved replay buffer %s: %d cells, %d bytes", path, self._n, len(data))

    @classmethod
    def from_bytes(
        cls, data: bytes, name: str = "replay buffer", config: BufferConfig | None = None,
    ) -> ReplayBuffer:
        if len(data) < _PREFIX.size + _DIGEST_BYTES:
            raise ReplayBufferError(f"{name}: truncated ({len(data)} bytes)")
        magic, version, header_len = _PREFIX.unpack_from(data)
        if magic != MAGIC:
            raise ReplayBufferError(f"{name}: not a gardenbot replay buffer")
        if version not in _READABLE_VERSIONS:
            newer = " (written by a newer gardenbot)" if version > FORMAT_VERSION else ""
            raise ReplayBufferError(
                f"{name}: format version {version}{newer} is not supported; this gardenbot "
                f"reads versions {', '.join(map(str, _READABLE_VERSIONS))}")
        body, digest = data[:-_DIGEST_BYTES], data[-_DIGEST_BYTES:]
        if hashlib.sha256(body).digest() != digest:
            raise ReplayBufferError(
                f"{name}: checksum mismatch, the file is corrupt; it was not used")
        try:
            header = json.loads(body[_PREFIX.size: _PREFIX.size + header_len])
            feature_dim, n = int(header["feature_dim"]), int(header["count"])
            if n < 0:
                raise ValueError(f"negative cell count {n}")
            policy = header["policy"] if config is None else config.policy
            if policy not in BUFFER_POLICIES:
                raise ValueError(f"unknown policy {policy!r}")
            cfg = config or BufferConfig(
                capacity_bytes=int(header["capacity_bytes"]), policy=policy,
                validation_fraction=float(header["validation_fraction"]))
            if list(header["sources"]) != list(LABEL_SOURCES)[: len(header["sources"])]:
                raise ValueError("label source table differs from this version's")
        except (ValueError, KeyError, TypeError) as e:
            raise ReplayBufferError(f"{name}: bad header ({e})") from None
        offset = _PREFIX.size + header_len
        columns = []
        feature_columns = ((("<f4", feature_dim), ("i1", n * feature_dim)) if version >= 3
                           else (("<f2", n * feature_dim),))  # 1, 2: float16, no scale
        for dtype, count in (*feature_columns, ("u1", n), ("u1", n), ("u1", n),
                             ("<u2", n), ("<f8", n), ("<i8", n)):
            size = np.dtype(dtype).itemsize * count
            if offset + size > len(body):
                raise ReplayBufferError(f"{name}: shorter than its header says")
            columns.append(np.frombuffer(body, dtype, count, offset))
            offset += size
        if offset != len(body):
            raise ReplayBufferError(f"{name}: {len(body) - offset} unexpected trailing bytes")
        try:
            buf = cls(feature_dim, header["backbone_sha256"], header["classes"], cfg)
            if version < 3:  # float16 features: encode them as this version stores them
                f16 = columns[0].reshape(n, feature_dim).astype(np.float32)
                scale = widened_scale(np.zeros(feature_dim, np.float32), f16)
                columns = [scale, quantize(f16, scale).reshape(-1), *columns[1:]]
            buf._restore(header, n, columns)
        except (ValueError, KeyError, TypeError) as e:  # ReplayBufferError is a ValueError
            raise ReplayBufferError(f"{name}: bad header ({e})") from None
        buf._enforce_capacity()  # a smaller configured capacity takes effect at once
        return buf

    def _restore(self, header: dict[str, Any], n: int, columns: list[np.ndarray]) -> None:
        """Fill a fresh buffer with the file's cells and the header's bookkeeping."""
        self._grow_to(n)
        scale = np.asarray(columns[0], np.float32)
        if not (np.isfinite(scale).all() and (scale >= 0).all()):
            raise ValueError("feature scales must be finite and >= 0")
        self._scale = scale.copy()
        self._features[:n] = columns[1].reshape(n, self.feature_dim)
        (self._labels[:n], self._source[:n], self._season[:n], self._recording[:n],
         self._time[:n], self._uid[:n]) = columns[2:]
        sets = [int(m) for m in header.get("label_sets", [])]  # none in version 1
        if any(m <= 0 or m >> min(len(self.classes), MAX_SET_CLASSES) for m in sets):
            raise ValueError(f"label_sets {sets} name a class outside the class map")
        self._check_class_count(self.classes, len(sets))
        is_set = self._labels[:n].astype(np.int64) >= 256 - len(sets)
        self._allowed[:n][is_set] = np.array(sets, np.uint16)[255 - self._labels[:n][is_set]]
        self._labels[:n][is_set] = UNLABELLED
        self._n = n
        self.total_seen, self.next_uid = int(header["total_seen"]), int(header["next_uid"])
        self._seasons = [str(x) for x in header["seasons"]]
        self._recordings = [str(x) for x in header["recordings"]]
        self._seen = Counter({(int(k), str(s)): int(v) for k, s, v in header["seen"]})
        self._rebuild_strata()
        self._rng.bit_generator.state = header["rng"]

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        backbone_sha256: str | None = None,
        feature_dim: int | None = None,
        config: BufferConfig | None = None,
    ) -> ReplayBuffer:
        """Load and verify a buffer; refuse one made for another backbone or feature dim."""
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise ReplayBufferError(f"{path}: no replay buffer there") from None
        except OSError as e:
            raise ReplayBufferError(f"{path}: cannot read ({e})") from e
        buf = cls.from_bytes(data, str(path), config)
        if feature_dim is not None and buf.feature_dim != feature_dim:
            raise ReplayBufferError(
                f"{path}: made for {buf.feature_dim}-channel features; the backbone gives "
                f"{feature_dim}. Refusing to mix features of different backbones")
        if backbone_sha256 is not None and buf.backbone_sha256 != backbone_sha256:
            raise ReplayBufferError(
                f"{path}: made for backbone {buf.backbone_sha256[:12]}…, not "
                f"{backbone_sha256[:12]}…. Refusing to mix features of different backbones")
        return buf

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        feature_dim: int,
        backbone_sha256: str,
        classes: Sequence[str],
        config: BufferConfig | None = None,
    ) -> ReplayBuffer:
        """Load the buffer at ``path`` if there is one, else start an empty one (not saved yet).

        The configured class list may extend the stored one (a class added later) but must not
        drop or reorder any: stored labels are ids into it.
        """
        if not Path(path).exists():
            return cls(feature_dim, backbone_sha256, classes, config)
        # config None: the capacity, policy and validation split stored in the file apply
        buf = cls.load(path, backbone_sha256=backbone_sha256, feature_dim=feature_dim,
                       config=config)
        buf.extend_classes(classes, str(path))
        return buf
