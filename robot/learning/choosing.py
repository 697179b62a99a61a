"""Which questions are worth the owner's few answers: pure functions, no state.

A frame is a source of questions when the robot stopped, crept over ground it was unsure of,
or saw ground unlike anything its adapter was trained on (novelty above ``novel_above``).
Its *candidate cells* are the unsure, the novel and — when it stopped — the blocked ones.
:func:`frame_candidates` groups them by what they look like (k-means on the backbone features,
cosine distance), not by where they are: one answer then labels every cell of a kind of
ground in the frame, wherever it lies — but for the fifth least like the group's look. Each
group is a :class:`Candidate` with its usefulness (the summed doubt of its cells: a big,
unsure, novel group first) and its mean feature.

:func:`choose_questions` picks the K most useful *diverse* candidates: greedy farthest-point
on the groups' mean features, weighted by usefulness, never two of the same kind of ground
(closer than ``same_kind``) and never one like a kind the owner has answered already.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robot.common.classes import TRAVERSABLE

STOP_REASONS = frozenset({"stop_blocked", "stop_low_confidence"})
CREEP_REASON = "creep"  # driving slowly over ground perception is unsure of
SAME_KIND = 0.1  # cosine distance between group means below which two groups are one kind
SPLIT_ABOVE = 0.2  # a frame's cells are split into another group only when this far apart
MAX_GROUPS = 8  # groups a frame's candidate cells are split into at most
KEEP = 0.8  # share of a group's cells, the most like its look, that its question is about
STOPPED_DOUBT = 0.25  # a confident blocked cell where the robot stopped: maybe wrongly


@dataclass(frozen=True)
class Candidate:
    """A group of look-alike cells of one frame that a question could be about."""

    region: np.ndarray  # (h, w) bool
    why: str  # "stopped", "unsure" or "novel": what most of its cells are
    usefulness: float  # summed doubt of its cells
    mean: np.ndarray  # (C,) float32, unit length: the group's look


def unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def cell_doubt(classes: np.ndarray, confidence: np.ndarray, novelty: np.ndarray,
               class_names: Sequence[str], drive_reason: str | None, min_confidence: float,
               novel_above: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(doubt, kind) per cell: doubt > 0 on candidate cells — 1 − confidence, plus how far
    novelty is above ``novel_above`` (at most 1), at least ``STOPPED_DOUBT`` on a blocked cell
    of a frame where the robot stopped; kind 0 = not a candidate, 1 stopped, 2 unsure, 3 novel.
    A frame where the robot drove on and saw nothing novel has no candidate cell."""
    reason = (drive_reason or "").split("+")[0]
    nov = np.nan_to_num(np.asarray(novelty, np.float32), nan=0.0, posinf=novel_above + 1)
    unsure = confidence < min_confidence
    novel = nov > novel_above
    kind = np.zeros(classes.shape, np.uint8)
    if reason in STOP_REASONS:
        names = np.array(class_names)
        kind[~np.isin(names[classes], list(TRAVERSABLE))] = 1
    elif reason != CREEP_REASON:
        unsure = np.zeros_like(unsure)  # driving on: only the novel is worth asking about
    kind[unsure] = 2
    kind[novel] = 3
    doubt = (1.0 - confidence) + np.clip(nov - novel_above, 0.0, 1.0)
    doubt = np.where(kind == 1, np.maximum(doubt, STOPPED_DOUBT), doubt)
    return np.where(kind > 0, doubt, 0.0).astype(np.float32), kind


def group_alike(features: np.ndarray, weights: np.ndarray, max_groups: int,
                min_cells: int, split_above: float = SPLIT_ABOVE,
                iterations: int = 8) -> np.ndarray:
    """Group labels (n,) for ``features`` (n, C): spherical k-means, seeded farthest-point from
    the most doubtful cell while the farthest cell is more than ``split_above`` (cosine
    distance) from every seed; k is at most ``max_groups`` and ``n // min_cells``.
    Deterministic: the same cells give the same groups."""
    n = len(features)
    k = max(1, min(max_groups, n // max(min_cells, 1)))
    x = unit_rows(features)
    seeds = [int(np.argmax(weights))]
    dist = 1.0 - x @ x[seeds[0]]
    for _ in range(1, k):
        nxt = int(np.argmax(dist))
        if dist[nxt] <= split_above:
            break  # every cell is like one seed already
        seeds.append(nxt)
        dist = np.minimum(dist, 1.0 - x @ x[nxt])
    centres = x[seeds]
    labels = np.zeros(n, np.int64)
    for _ in range(iterations):
        new = np.argmax(x @ centres.T, axis=1)
        if _ and np.array_equal(new, labels):
            break
        labels = new
        centres = unit_rows(np.stack([x[labels == j].mean(0) if (labels == j).any()
                                      else centres[j] for j in range(len(centres))]))
    return labels


def frame_candidates(features: np.ndarray, doubt: np.ndarray, kind: np.ndarray,
                     max_groups: int = MAX_GROUPS, min_cells: int = 3,
                     split_above: float = SPLIT_ABOVE, keep: float = KEEP) -> list[Candidate]:
    """The frame's candidate cells (``kind`` > 0) in groups that look alike, most useful first.
    Each group's question is about the ``keep`` share of its cells nearest its mean look (the
    rest are the likeliest to be another class, and one answer would label them wrongly); a
    group smaller than ``min_cells`` is not worth the owner's tap. ``features`` (h, w, C)."""
    mask = kind > 0
    if mask.sum() < min_cells:
        return []
    feats = features[mask].astype(np.float32)
    labels = group_alike(feats, doubt[mask], max_groups, min_cells, split_above)
    rows, cols = np.nonzero(mask)
    out = []
    x = unit_rows(feats)
    for j in np.unique(labels):
        member = labels == j
        if keep < 1.0 and member.sum() >= min_cells:
            # the cells least like their group's look are left out of its question
            centre = unit_rows(x[member].mean(0))
            dist = np.where(member, 1.0 - x @ centre, np.inf)
            cut = np.quantile(dist[member], keep)
            member = member & (dist <= cut)
        if member.sum() < min_cells:
            continue
        region = np.zeros(mask.shape, bool)
        region[rows[member], cols[member]] = True
        kinds = np.bincount(kind[region], minlength=4)[1:]
        why = ("stopped", "unsure", "novel")[int(np.argmax(kinds))]
        out.append(Candidate(region, why, float(doubt[region].sum()),
                             unit_rows(feats[member].mean(0))))
    return sorted(out, key=lambda c: -c.usefulness)


def choose_questions(usefulness: Sequence[float], means: np.ndarray, k: int,
                     known: np.ndarray | None = None, same_kind: float = SAME_KIND) -> list[int]:
    """Indices of at most ``k`` candidates to ask about, in the order chosen.

    The first is the most useful; each next one maximises usefulness × (cosine distance to the
    nearest one chosen or ``known``), so a second question about ground that looks like a first
    one loses to a less useful one about other ground. Candidates closer than ``same_kind`` to
    a chosen or known one are never chosen: the owner is not asked twice about one kind.
    ``means`` (n, C) unit rows; ``known`` (m, C) unit rows of kinds answered already.
    """
    use = np.asarray(usefulness, np.float64)
    n = len(use)
    if n == 0 or k <= 0:
        return []
    x = unit_rows(means)
    nearest = np.full(n, np.inf)
    if known is not None and len(known):
        nearest = (1.0 - x @ unit_rows(known).T).min(axis=1)
    chosen: list[int] = []
    free = np.ones(n, bool)
    while len(chosen) < k:
        ok = free & (nearest >= same_kind)
        if not ok.any():
            break
        spread = np.where(np.isinf(nearest), 1.0, nearest)  # nothing chosen yet: usefulness
        value = np.where(ok, use * spread, -np.inf)
        best = int(np.argmax(value))
        chosen.append(best)
        free[best] = False
        nearest = np.minimum(nearest, 1.0 - x @ x[best])
    return chosen
