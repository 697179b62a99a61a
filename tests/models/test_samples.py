"""The shipped sample: one held-out garden in summer, then in autumn (gardenbot simulate's
default input). It is generated with the commands in docs/synth.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robot.common.classes import DEFAULT_CLASSES
from robot.seeing.recording import Recording
from tools.garden.layout import TEST_GARDENS

SAMPLES = Path(__file__).resolve().parents[2] / "models" / "samples"
PAIR = ("g07-summer", "g07-autumn")


def test_the_pair_is_small_enough_to_ship():
    size = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert size < 5_000_000


def test_summer_then_autumn_of_one_held_out_garden_with_labels():
    recs = [Recording(SAMPLES / name) for name in PAIR]
    assert [r.meta.season for r in recs] == ["summer", "autumn"]
    gardens = {r.meta.source["garden"] for r in recs}
    assert len(gardens) == 1 and gardens <= set(TEST_GARDENS)
    for rec in recs:
        assert rec.meta.classes == DEFAULT_CLASSES
        assert 18.0 <= rec.duration_s <= 22.0
        assert rec.labelled == tuple(range(0, len(rec), 5))
        assert len(rec.telemetry()) == len(rec)
        frame = next(rec.frames(start=rec.labelled[1], stop=rec.labelled[1] + 1))
        assert frame.labels is not None and frame.image.shape == (240, 320, 3)
        assert len(np.unique(frame.labels)) >= 2


def test_the_season_change_shows_in_the_pictures():
    means = []
    for name in PAIR:
        rec = Recording(SAMPLES / name)
        lawn = DEFAULT_CLASSES.index("lawn")
        pix = [f.image[f.labels == lawn] for f in rec.frames(labelled_only=True)]
        means.append(np.concatenate(pix).astype(float).mean(0))
    summer, autumn = means
    assert autumn[2] / autumn[1] > summer[2] / summer[1] + 0.15, "autumn lawn is leafier, redder"
