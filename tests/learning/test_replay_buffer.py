from __future__ import annotations

import errno
import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from robot.common.errors import ReplayBufferError, SampleError
from robot.common.samples import cells_from_grid, make_cells
from robot.learning.config import BufferConfig
from robot.learning.replay_buffer import FORMAT_VERSION, ReplayBuffer, cell_bytes
from tests.learner_fixtures import CLASSES, DIM, OTHER_SHA, SHA, cells, filled_buffer


def imbalanced_stream(buf: ReplayBuffer, rng: np.random.Generator) -> None:
    """A long spring, a short summer; lawn everywhere, obstacles rare."""
    shares = [0.70, 0.15, 0.10, 0.045, 0.005]
    for season, n in (("spring", 20000), ("summer", 4000)):
        y = rng.choice(5, size=n, p=shares)
        buf.add(make_cells(rng.standard_normal((n, DIM)).astype(np.float32), y, season=season))


def test_buffer_never_exceeds_its_byte_capacity(tmp_path):
    buf = ReplayBuffer(DIM, SHA, CLASSES, BufferConfig(capacity_bytes=100_000))
    imbalanced_stream(buf, np.random.default_rng(0))
    buf.save(tmp_path / "b")
    assert os.path.getsize(tmp_path / "b") <= 100_000
    assert buf.nbytes == os.path.getsize(tmp_path / "b")
    assert len(buf) > 0.9 * 100_000 / cell_bytes(DIM)  # and it is not wasting the space


def test_balanced_policy_keeps_rare_classes_and_the_old_season_better_than_reservoir():
    kept = {}
    for policy in ("balanced", "reservoir"):
        buf = ReplayBuffer(DIM, SHA, CLASSES, BufferConfig(capacity_bytes=100_000, policy=policy))
        imbalanced_stream(buf, np.random.default_rng(0))
        kept[policy] = (buf.class_counts(), buf.season_counts())
    (bal_classes, bal_seasons), (res_classes, res_seasons) = kept["balanced"], kept["reservoir"]
    assert bal_classes["obstacle"] > 3 * res_classes["obstacle"]
    assert bal_classes["lawn"] < res_classes["lawn"]
    # summer is 1/6 of the stream: reservoir keeps ~1/6 of summer, balanced about half
    assert bal_seasons["summer"] / sum(bal_seasons.values()) > 0.35
    assert res_seasons["summer"] / sum(res_seasons.values()) < 0.25


def test_save_and_load_round_trip(tmp_path):
    buf = filled_buffer(tmp_path / "b", domains=(0, 1))
    back = ReplayBuffer.load(tmp_path / "b", backbone_sha256=SHA, feature_dim=DIM)
    a, b = buf.cells(), back.cells()
    assert np.array_equal(a.features, b.features) and np.array_equal(a.labels, b.labels)
    assert list(a.season) == list(b.season) and np.array_equal(a.uid, b.uid)
    assert back.total_seen == buf.total_seen and back.class_counts() == buf.class_counts()


def test_corruption_is_reported_not_used(tmp_path):
    filled_buffer(tmp_path / "b")
    data = bytearray((tmp_path / "b").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "b").write_bytes(bytes(data))
    with pytest.raises(ReplayBufferError, match="checksum mismatch"):
        ReplayBuffer.load(tmp_path / "b")


def test_truncated_file_is_reported(tmp_path):
    filled_buffer(tmp_path / "b")
    data = (tmp_path / "b").read_bytes()
    (tmp_path / "b").write_bytes(data[: len(data) // 3])
    with pytest.raises(ReplayBufferError):
        ReplayBuffer.load(tmp_path / "b")


def test_a_save_cut_short_leaves_the_previous_buffer_loadable(tmp_path, monkeypatch):
    before = filled_buffer(tmp_path / "b")
    bigger = filled_buffer(domains=(0, 1))

    def power_cut(*args, **kwargs):  # dies after the temp file was written, before the rename
        raise OSError(errno.EIO, "power cut")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(ReplayBufferError, match="previous file is kept"):
        bigger.save(tmp_path / "b")
    monkeypatch.undo()
    again = ReplayBuffer.load(tmp_path / "b")
    assert len(again) == len(before)
    assert [p.name for p in tmp_path.iterdir()] == ["b"]  # no temp file left behind


def test_full_disk_during_save_is_a_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    filled_buffer(tmp_path / "b")
    old = (tmp_path / "b").read_bytes()
    bigger = filled_buffer(domains=(0, 1))

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(ReplayBufferError, match="disk is full"):
        bigger.save(tmp_path / "b")
    monkeypatch.undo()
    assert (tmp_path / "b").read_bytes() == old


@pytest.mark.parametrize("kwargs, match", [
    ({"backbone_sha256": OTHER_SHA}, "made for backbone"),
    ({"feature_dim": DIM * 2}, "made for 32-channel"),
])
def test_a_buffer_of_another_backbone_is_refused(tmp_path, kwargs, match):
    filled_buffer(tmp_path / "b")
    with pytest.raises(ReplayBufferError, match=match):
        ReplayBuffer.load(tmp_path / "b", **kwargs)


def test_features_of_another_dim_cannot_be_added():
    buf = filled_buffer()
    with pytest.raises(ReplayBufferError, match="cannot be mixed"):
        buf.add(cells(0, 5, seed=1, dim=DIM * 2))


def test_bad_cells_are_refused_whole_and_nothing_changes():
    buf = filled_buffer()
    before = (len(buf), buf.total_seen, buf.class_counts())
    good = cells(1, 10, seed=3)
    bad_label = make_cells(good.features, np.where(np.arange(len(good)) == 7, 9, good.labels))
    with pytest.raises(SampleError, match="label 9 at row 7 is outside the class map"):
        buf.add(bad_label)
    nan = good.features.copy()
    nan[4, 2] = np.nan
    with pytest.raises(SampleError, match="row 4 are NaN or infinite"):
        buf.add(make_cells(nan, good.labels))
    inf = good.features.copy()
    inf[2, 0] = np.inf
    with pytest.raises(SampleError, match="NaN or infinite"):
        buf.add(make_cells(inf, good.labels))
    with pytest.raises(SampleError, match="float16 range"):
        buf.add(make_cells(good.features * 1e6, good.labels))
    with pytest.raises(SampleError, match="unknown label source"):
        buf.add(make_cells(good.features, good.labels, source="rumour"))
    assert (len(buf), buf.total_seen, buf.class_counts()) == before


def test_validation_split_is_fixed_per_cell(tmp_path):
    buf = filled_buffer(tmp_path / "b")
    _, val1 = buf.split()
    buf.add(cells(1, 80, seed=7))
    _, val2 = buf.split()
    still_there = np.isin(val1.uid, buf.cells().uid)
    assert set(val1.uid[still_there]) <= set(val2.uid)
    assert 0.05 < len(val2) / len(buf) < 0.25


def test_a_class_can_be_added_and_the_stored_ids_stay(tmp_path):
    filled_buffer(tmp_path / "b")
    buf = ReplayBuffer.open(tmp_path / "b", feature_dim=DIM, backbone_sha256=SHA,
                            classes=(*CLASSES, "pond"))
    pond = make_cells(np.full((20, DIM), 5.0, np.float32), np.full(20, 5), season="summer")
    assert buf.add(pond) == 20
    buf.save(tmp_path / "b")
    back = ReplayBuffer.load(tmp_path / "b")
    assert back.classes[-1] == "pond" and back.class_counts()["pond"] == 20
    with pytest.raises(ReplayBufferError, match="must start with them"):
        ReplayBuffer.open(tmp_path / "b", feature_dim=DIM, backbone_sha256=SHA,
                          classes=("path", "lawn", "soil", "plant", "obstacle", "pond"))


def test_cells_from_grid_drops_unlabelled_and_checks_the_rest():
    grid = np.random.default_rng(0).standard_normal((3, 4, DIM)).astype(np.float32)
    labels = np.full((3, 4), 255, np.uint8)
    labels[0, 1], labels[2, 3] = 2, 4
    got = cells_from_grid(grid, labels, num_classes=5, season="autumn", recording="r1")
    assert list(got.labels) == [2, 4] and np.array_equal(got.features[1], grid[2, 3])
    labels[1, 1] = 7
    with pytest.raises(SampleError, match="outside the class map"):
        cells_from_grid(grid, labels, num_classes=5)


def test_add_class_keeps_the_old_cells_and_stops_before_the_unlabelled_id():
    buf = filled_buffer()
    before = buf.cells()
    assert buf.add_class("pond") == len(CLASSES)
    after = buf.cells()
    assert np.array_equal(after.uid, before.uid) and np.array_equal(after.labels, before.labels)
    assert np.array_equal(after.features, before.features)
    assert buf.class_counts()["pond"] == 0 and buf.classes[:-1] == tuple(CLASSES)
    with pytest.raises(ReplayBufferError, match="already in the class map"):
        buf.add_class("pond")
    for i in range(len(buf.classes), 255):
        buf.add_class(f"c{i}")
    assert len(buf.classes) == 255  # ids 0..254
    with pytest.raises(ReplayBufferError, match="at most 255"):
        buf.add_class("one too many")  # its id would be 255, which means "unlabelled"
    assert len(buf.classes) == 255


def test_a_batch_over_the_recording_limit_changes_nothing(monkeypatch):
    buf = filled_buffer()
    before = (len(buf), buf.total_seen, buf.nbytes, buf.season_counts())
    monkeypatch.setattr("robot.learning.replay_buffer._MAX_RECORDINGS", 2)
    new = cells(1, 4, seed=9)
    batch = make_cells(new.features, new.labels, season="a-new-season",
                       recording=np.arange(len(new)).astype(str))
    with pytest.raises(ReplayBufferError, match="more than 2 distinct recording names"):
        buf.add(batch)
    # the season table was not extended either: the header (and so the size) is as before
    assert (len(buf), buf.total_seen, buf.nbytes, buf.season_counts()) == before


def rewrite_header(data: bytes, change) -> bytes:
    """The same buffer file with its header changed by ``change`` and a valid checksum."""
    import hashlib
    import json
    import struct

    prefix = struct.Struct("<8sII")
    magic, version, n = prefix.unpack_from(data)
    header = json.loads(data[prefix.size: prefix.size + n])
    change(header)
    raw = json.dumps(header).encode()
    body = prefix.pack(magic, version, len(raw)) + raw + data[prefix.size + n: -32]
    return body + hashlib.sha256(body).digest()


@pytest.mark.parametrize("change", [
    lambda h: h.pop("seen"),
    lambda h: h.pop("backbone_sha256"),
    lambda h: h.update(rng={"bit_generator": "nonsense"}),
    lambda h: h.update(seen=[["x", "spring"]]),
    lambda h: h.update(total_seen="many"),
], ids=["no-seen", "no-backbone", "bad-rng", "bad-seen", "bad-total"])
def test_a_bad_header_is_a_replay_buffer_error(change):
    data = rewrite_header(filled_buffer().to_bytes(), change)
    with pytest.raises(ReplayBufferError, match="bad header"):
        ReplayBuffer.from_bytes(data)


def test_without_a_config_the_stored_capacity_and_split_apply(tmp_path):
    cfg = BufferConfig(capacity_bytes=5_000_000, validation_fraction=0.3)
    buf = ReplayBuffer(DIM, SHA, CLASSES, cfg)
    buf.add(cells(0, 80, seed=1))
    buf.save(tmp_path / "b")
    for back in (ReplayBuffer.load(tmp_path / "b"),
                 ReplayBuffer.open(tmp_path / "b", feature_dim=DIM, backbone_sha256=SHA,
                                   classes=CLASSES)):
        assert back.config == cfg and len(back) == len(buf)
        assert np.array_equal(back.split()[1].uid, buf.split()[1].uid)


TRAVERSABLE_SET = 0b00011  # {lawn, path}
NOT_TRAVERSABLE_SET = 0b11100  # {soil, plant, obstacle}


def set_label_cells(n: int, seed: int, mask: int = TRAVERSABLE_SET, season: str = "autumn"):
    rng = np.random.default_rng(seed)
    return make_cells(rng.standard_normal((n, DIM)).astype(np.float32), np.zeros(n, np.uint8),
                      source="experience", season=season, allowed=np.full(n, mask))


def test_set_labels_survive_a_save_and_load(tmp_path):
    buf = filled_buffer()
    buf.add(set_label_cells(30, seed=1))
    buf.add(set_label_cells(20, seed=2, mask=NOT_TRAVERSABLE_SET))
    buf.save(tmp_path / "b")
    back = ReplayBuffer.load(tmp_path / "b", backbone_sha256=SHA, feature_dim=DIM)
    a, b = buf.cells(), back.cells()
    assert np.array_equal(a.allowed, b.allowed) and np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.features, b.features) and np.array_equal(a.uid, b.uid)
    assert back.set_counts() == {"lawn|path": 30, "soil|plant|obstacle": 20}
    assert back.class_counts() == buf.class_counts() == {c: 80 for c in CLASSES}
    assert np.all(b.labels[b.is_set] == 255) and b.is_set.sum() == 50
    assert back.summary()["label_sets"] == back.set_counts()


def test_a_one_class_set_is_a_single_label():
    got = make_cells(np.zeros((2, DIM)), np.zeros(2), allowed=np.array([0b10000, 0b00011]))
    assert list(got.labels) == [4, 255] and list(got.allowed) == [0, 0b00011]
    assert list(got.label_codes()) == [4, -0b00011]


def test_a_set_naming_a_class_outside_the_map_is_refused():
    buf = filled_buffer()
    with pytest.raises(SampleError, match="set label"):
        buf.add(set_label_cells(3, seed=1, mask=0b1000001))  # class 6 of 5


def test_version_1_files_load_unchanged_every_cell_a_single_label(tmp_path):
    data = as_old_version(filled_buffer(domains=(0, 1)).to_bytes(), DIM, version=1)
    assert struct.unpack_from("<8sI", data)[1] == 1  # float16, before set labels
    n = json.loads(data[16:16 + struct.unpack_from("<I", data, 12)[0]])["count"]
    old = ReplayBuffer.from_bytes(data)
    assert len(old) == n and old.set_counts() == {} and not old.cells().is_set.any()
    # written again (format 3) it is the same buffer, and no bigger than its capacity
    old.save(tmp_path / "b")
    again = ReplayBuffer.load(tmp_path / "b")
    assert struct.unpack_from("<8sI", (tmp_path / "b").read_bytes())[1] == 3
    a, b = old.cells(), again.cells()
    assert len(b) == n and np.array_equal(a.features, b.features)
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.uid, b.uid)
    assert os.path.getsize(tmp_path / "b") <= again.config.capacity_bytes


def test_set_labels_cost_no_bytes_and_the_capacity_holds(tmp_path):
    buf = ReplayBuffer(DIM, SHA, CLASSES, BufferConfig(capacity_bytes=100_000))
    imbalanced_stream(buf, np.random.default_rng(0))
    for i in range(20):
        buf.add(set_label_cells(500, seed=i, mask=(TRAVERSABLE_SET, NOT_TRAVERSABLE_SET)[i % 2]))
    buf.save(tmp_path / "b")
    assert os.path.getsize(tmp_path / "b") == buf.nbytes <= 100_000
    assert len(buf) > 0.9 * 100_000 / cell_bytes(DIM)
    # balanced: each set is a stratum of its own and keeps about a class's share
    share = buf.set_counts()["lawn|path"] / len(buf)
    assert 0.5 / 7 < share < 2 / 7, buf.summary()


def test_classes_and_distinct_sets_share_the_label_byte():
    buf = ReplayBuffer(DIM, SHA, CLASSES)
    for i in range(len(CLASSES), 250):
        buf.add_class(f"c{i}")
    for mask in (0b11, 0b101, 0b110, 0b1001, 0b1010, 0b1100):
        buf.add(set_label_cells(1, seed=mask, mask=mask))
    before = len(buf)
    with pytest.raises(ReplayBufferError, match="at most 256 together"):
        buf.add(set_label_cells(1, seed=0, mask=0b10001))
    assert len(buf) == before
    with pytest.raises(ReplayBufferError, match="at most 256 together"):
        buf.add_class("one too many")


# --- int8 features (format 3) -------------------------------------------------------------

def decoded_by_uid(buf: ReplayBuffer) -> dict[int, np.ndarray]:
    got = buf.cells()
    return {int(u): f.astype(np.float32) for u, f in zip(got.uid, got.features, strict=True)}


def test_features_are_kept_as_int8_so_the_same_bytes_hold_more_cells():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3000, DIM)) * np.linspace(0.01, 20, DIM)).astype(np.float32)
    buf = ReplayBuffer(DIM, SHA, CLASSES, BufferConfig(capacity_bytes=100_000))
    buf.add(make_cells(x, rng.integers(5, size=len(x))))
    assert cell_bytes(DIM) == DIM + 21  # one byte per channel
    fp16_cells = 100_000 / (2 * DIM + 21)
    assert len(buf) > 1.5 * fp16_cells
    # decoded within half a step of each channel's scale: ~1 % of the channel's spread
    err = np.array([np.abs(f - x[u]) for u, f in decoded_by_uid(buf).items()])
    spread = x.std(axis=0)
    half_step = 0.5 * 1.25 * np.abs(x).max(axis=0) / 127  # the first cells set the scale
    assert (err.max(axis=0) <= half_step + 1e-3 * np.abs(x).max(axis=0)).all()  # + fp16's
    assert (np.sqrt((err**2).mean(axis=0)) < 0.02 * spread).all()


def test_a_cell_beyond_a_channels_range_widens_its_scale_and_nothing_is_clipped():
    rng = np.random.default_rng(1)
    first = rng.standard_normal((200, DIM)).astype(np.float32)
    buf = ReplayBuffer(DIM, SHA, CLASSES)
    buf.add(make_cells(first, np.zeros(200, np.uint8)))
    big = rng.standard_normal((1, DIM)).astype(np.float32)
    big[0, 3] = 40.0  # ten times anything channel 3 held
    buf.add(make_cells(big, np.ones(1, np.uint8)))
    got = decoded_by_uid(buf)
    assert abs(got[200][3] - 40.0) < 40.0 / 127  # not clipped at the first cells' range
    # the earlier cells were re-encoded with channel 3's wider step, nothing else moved
    step = 40.0 * 1.25 / 127
    old = np.array([got[u] for u in range(200)])
    assert np.abs(old[:, 3] - first[:, 3]).max() <= step
    assert np.abs(np.delete(old - first, 3, axis=1)).max() < 0.05


def as_old_version(data: bytes, feature_dim: int, version: int = 2) -> bytes:
    """The same buffer as the float16 file an earlier gardenbot wrote: format version 2, or
    version 1 (before set labels: no ``label_sets``; only for a buffer without set labels)."""
    _, _, header_len = struct.unpack_from("<8sII", data)
    header = json.loads(data[16:16 + header_len])
    n = header["count"]
    at = 16 + header_len
    scale = np.frombuffer(data, "<f4", feature_dim, at)
    q = np.frombuffer(data, "i1", n * feature_dim, at + 4 * feature_dim)
    f16 = (q.reshape(n, feature_dim) * scale).astype("<f2")
    rest = data[at + 4 * feature_dim + n * feature_dim: -32]
    del header["feature_encoding"]
    if version == 1:
        assert header.pop("label_sets") == []
    head = json.dumps(header, separators=(",", ":")).encode()
    body = struct.pack("<8sII", b"GBREPLAY", version, len(head)) + head + f16.tobytes() + rest
    return body + hashlib.sha256(body).digest()


def test_a_version_2_float16_file_loads_and_is_saved_as_version_3(tmp_path):
    buf = filled_buffer(domains=(0, 1))
    old = as_old_version(buf.to_bytes(), DIM)
    (tmp_path / "v2").write_bytes(old)
    back = ReplayBuffer.load(tmp_path / "v2", backbone_sha256=SHA, feature_dim=DIM)
    a, b = buf.cells(), back.cells()
    assert np.array_equal(a.uid, b.uid) and np.array_equal(a.labels, b.labels)
    assert np.abs(a.features_f32() - b.features_f32()).max() < 0.05  # re-encoded once
    back.save(tmp_path / "v3")
    assert struct.unpack_from("<8sI", (tmp_path / "v3").read_bytes())[1] == FORMAT_VERSION == 3
    assert len(ReplayBuffer.load(tmp_path / "v3")) == len(buf)


def test_a_file_of_a_newer_format_is_refused_with_a_clear_error(tmp_path):
    data = bytearray(filled_buffer().to_bytes())
    struct.pack_into("<I", data, 8, FORMAT_VERSION + 1)
    body = bytes(data[:-32])
    (tmp_path / "b").write_bytes(body + hashlib.sha256(body).digest())
    with pytest.raises(ReplayBufferError, match="version 4 .written by a newer gardenbot. is "
                       "not supported; this gardenbot reads versions 1, 2, 3"):
        ReplayBuffer.load(tmp_path / "b")


def test_bad_feature_scales_are_refused(tmp_path):
    data = bytearray(filled_buffer().to_bytes())
    header_len = struct.unpack_from("<I", data, 12)[0]
    struct.pack_into("<f", data, 16 + header_len, float("nan"))
    body = bytes(data[:-32])
    (tmp_path / "b").write_bytes(body + hashlib.sha256(body).digest())
    with pytest.raises(ReplayBufferError, match="feature scales must be finite"):
        ReplayBuffer.load(tmp_path / "b")


def test_the_shipped_buffer_loads():
    shipped = Path(__file__).parents[2] / "models" / "default" / "replay_buffer.gbrb"
    buf = ReplayBuffer.load(shipped)
    assert len(buf) > 0 and buf.nbytes <= buf.config.capacity_bytes


def test_new_cells_can_be_counted_by_label_source():
    """The schedule's gate asks how many new cells a person labelled."""
    buf = ReplayBuffer(DIM, SHA, CLASSES)
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(30, DIM)).astype(np.float32)
    buf.add(make_cells(feats[:10], np.zeros(10, np.uint8), source="experience"))
    upto = buf.next_uid - 1
    buf.add(make_cells(feats[10:], np.ones(20, np.uint8),
                       source=["owner"] * 5 + ["place"] * 15))
    assert buf.count_newer_than(upto) == 20
    assert buf.count_newer_than(upto, ("owner", "annotation")) == 5
    assert buf.count_newer_than(-1, ("experience",)) == 10
