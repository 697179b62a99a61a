"""The loop's driving watch, with the real adapter store, adapters and policy rule: a published
adapter that stops where its parent (run in the shadow on the same frames) would have driven
goes back to the parent, and perception's runner swaps back; bumps outside probes count
against it and ring the bump alarm; a probe's bumps do not."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from robot.acting.config import PolicyConfig
from robot.acting.policy import DriveCommand, GroundGrid
from robot.adapter.runner import AdapterRunner
from robot.adapter.store import AdapterStore, version_dir_name
from robot.common.body import RobotConfig
from robot.learning.config import TrialConfig
from robot.learning.learner import LearnerState, train
from robot.learning.paths import LearnerPaths
from robot.learning.trial import TrialBook
from robot.learning.triggers import BumpAlarm
from robot.runtime.config import Config
from robot.runtime.control import PolicyStep, RobotState
from robot.runtime.loop import Tick
from robot.runtime.settings import learner_settings
from robot.runtime.watch import DrivingWatch, StopRule, driving_watch
from robot.seeing.perception import CellMap
from tests.learner_fixtures import CLASSES, DIM, SHA, cells

GRID = (6, 10)
TRAIN = cells(0, 80, seed=1)
VAL = cells(0, 20, seed=21)
LAWN = CLASSES.index("lawn")
RULE = StopRule(GroundGrid.from_camera(Config().camera.model(), GRID), PolicyConfig(),
                RobotConfig())


@pytest.fixture(scope="module")
def adapters():
    """knows: learnt the garden; stopper: a retrain that took the lawn for plants."""
    s0 = LearnerState.initial(CLASSES, DIM, SHA)
    knows = train("replay", s0, TRAIN, None, seed=0)
    labels = TRAIN.labels.copy()
    labels[labels == LAWN] = CLASSES.index("plant")
    stopper = train("finetune", knows[1], dataclasses.replace(TRAIN, labels=labels), None,
                    seed=0)
    return knows, stopper


def lawn_grid() -> np.ndarray:
    lawn = cells(0, 80, seed=5)
    f = lawn.features_f32()[lawn.labels == LAWN][: GRID[0] * GRID[1]]
    return f.reshape(*GRID, DIM)


class Robot:
    """Perception (the store's current adapter on a lawn frame's features) and odometry:
    3 cm a frame while the policy drives; bumper closings on demand."""

    def __init__(self, store: AdapterStore) -> None:
        self.runner = AdapterRunner(store.root, backbone_sha256=SHA, feature_dim=DIM,
                                    reload_check_s=0)
        self.grid = lawn_grid()
        self.i, self.x = 0, 0.0

    def tick(self, bumper: bool = False, step_m: float = 0.03) -> Tick:
        self.i += 1
        t = self.i * 0.1
        p = self.runner.predict(self.grid)
        seen = CellMap(p.classes.astype(np.uint8), p.confidence, p.novelty, CLASSES, t,
                       f"v{p.adapter_version}", self.grid, traversable_p=p.traversable)
        stops = RULE.stops(seen)
        self.x += 0.0 if stops else step_m
        decision = DriveCommand(0.0 if stops else 0.3, 0.0, 300, "stop" if stops else "cruise",
                                "")
        rec = {"t": t, "x_m": self.x, "y_m": 0.0, "bumper": bumper}
        return Tick(self.i, t, cells=seen, decision=decision, records=[rec])


def watch_of(tmp_path, store, **kw) -> DrivingWatch:
    return DrivingWatch(TrialBook(tmp_path / "trials.json", TrialConfig(frames=100)), store,
                        RULE, **kw)


def test_a_new_adapter_that_stops_where_its_parent_drove_goes_back(tmp_path, adapters):
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*adapters[0], VAL, margin=1.0)
    robot, watch = Robot(store), watch_of(tmp_path, store)
    for _ in range(150):
        watch.run(robot.tick())
    assert robot.x > 4.0, "the adapter that knows the lawn drives"
    store.publish(*adapters[1], VAL, margin=1.0)  # the night's retrain
    for _ in range(100):
        watch.run(robot.tick())
    [verdict] = watch.summary()
    assert verdict["rolled_back"] and verdict["parent"] == 1, verdict
    assert "on 100 frames it stopped on 100%, its parent would have on 0%" in verdict["reason"]
    assert store.current_version() == 1
    robot.tick()
    assert robot.runner.version == 1  # perception drives v1 again
    watch.shutdown()
    assert "rolled back to version 1" in TrialBook(watch.book.path,
                                                   watch.book.config).records[2].verdict


def test_a_new_adapter_that_drives_like_its_parent_stays(tmp_path, adapters):
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*adapters[0], VAL, margin=1.0)
    robot, watch = Robot(store), watch_of(tmp_path, store)
    for _ in range(150):
        watch.run(robot.tick())
    store.publish(*adapters[0], VAL, margin=1.0)  # the same weights again, as version 2
    for _ in range(1100):  # its first 100 frames for stops, its first 30 m for bumps
        watch.run(robot.tick())
    [verdict] = watch.summary()
    assert not verdict["rolled_back"] and verdict["reason"].startswith("kept")
    assert store.current_version() == 2


def test_bumps_during_a_probe_do_not_count_against_the_adapter(tmp_path, adapters):
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*adapters[0], VAL, margin=1.0)
    probing = {"on": False}
    robot = Robot(store)
    watch = watch_of(tmp_path, store, source_of=lambda t: "probe" if probing["on"] else "")
    for _ in range(1200):
        watch.run(robot.tick())
    store.publish(*adapters[0], VAL, margin=1.0)
    for i in range(1100):  # three bumper closings, all while probing, then 30 m of driving
        probing["on"] = i < 90 and i % 30 < 3
        watch.run(robot.tick(bumper=i < 90 and i % 30 == 1))
    [verdict] = watch.summary()
    assert not verdict["rolled_back"], verdict
    assert re.search(r"0 bump\(s\) in 30\.\d m on trial", verdict["reason"]), verdict


def test_the_same_bumps_outside_a_probe_send_it_back(tmp_path, adapters):
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*adapters[0], VAL, margin=1.0)
    robot, watch = Robot(store), watch_of(tmp_path, store)
    for _ in range(1200):
        watch.run(robot.tick())
    store.publish(*adapters[0], VAL, margin=1.0)
    for i in range(100):
        watch.run(robot.tick(bumper=i % 30 == 1))
    [verdict] = watch.summary()
    assert verdict["rolled_back"] and "it bumped more" in verdict["reason"]
    assert store.current_version() == 1


def test_an_adapter_replaced_before_its_verdict_is_not_rolled_back(tmp_path, adapters):
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*adapters[0], VAL, margin=1.0)
    robot, watch = Robot(store), watch_of(tmp_path, store)
    for _ in range(150):
        watch.run(robot.tick())
    store.publish(*adapters[1], VAL, margin=1.0)
    for _ in range(99):
        watch.run(robot.tick())
    last = robot.tick()  # the last frame perception made with v2 ...
    store.publish(*adapters[0], VAL, margin=1.0)  # ... and v3 is published meanwhile
    watch.run(last)
    assert watch.summary()[0]["rolled_back"] and store.current_version() == 3


def test_a_pruned_parent_leaves_the_new_adapter_without_a_verdict(tmp_path, adapters):
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*adapters[0], VAL, margin=1.0)
    robot, watch = Robot(store), watch_of(tmp_path, store)
    for _ in range(150):
        watch.run(robot.tick())
    store.publish(*adapters[1], VAL, margin=1.0)
    (store.root / version_dir_name(1) / "adapter.onnx").write_bytes(b"damaged")
    watch.run(robot.tick())
    [verdict] = watch.summary()
    assert not verdict["rolled_back"] and "cannot run" in verdict["reason"]
    assert store.current_version() == 2


def test_three_bumps_outside_probes_within_a_minute_ring_the_bump_alarm(tmp_path, adapters):
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*adapters[0], VAL, margin=1.0)
    rang: list[int] = []
    probing = {"on": False}
    robot = Robot(store)
    watch = watch_of(tmp_path, store, source_of=lambda t: "probe" if probing["on"] else "",
                     bump_alarm=BumpAlarm(3, 600),
                     on_bump_alarm=lambda: rang.append(watch.bump_alarms))
    for i in range(1000):  # bumps 300 frames apart: never three within 600 frames
        watch.run(robot.tick(bumper=i % 300 == 5))
    assert rang == []
    probing["on"] = True
    for i in range(100):  # three while probing: a probe's bumps are its purpose
        watch.run(robot.tick(bumper=i % 30 == 5))
    probing["on"] = False
    assert rang == []
    for i in range(10):  # the third outside probes within 600 frames
        watch.run(robot.tick(bumper=i == 0))
    assert rang == [1]


def test_the_bump_alarm_counts_each_adapter_afresh():
    alarm = BumpAlarm(3, 600)
    assert not alarm.update(1, 2)
    assert not alarm.update(2, 1)  # a new adapter: v1's bumps say nothing about it
    assert not alarm.update(2, 1) and alarm.update(2, 1)
    assert not BumpAlarm(0, 600).update(1, 50)  # off


class Learner:
    """The learner step as the watch sees it: asked for a retrain, busy until it ends."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.busy = False

    def request_with_labels(self, why: str) -> None:
        self.asked.append(why)
        self.busy = True


class SlowableRobot:
    """The loop's policy step between the robot's perception and the watch, wired as
    `gardenbot run` wires them (``driving_watch``); the robot moves as fast as it is told."""

    def __init__(self, tmp_path, store: AdapterStore, cfg: Config | None = None) -> None:
        cfg = cfg or Config()
        self.robot, self.learner = Robot(store), Learner()
        self.policy = PolicyStep(RULE.ground, cfg.camera.model(), cfg.policy, cfg.robot,
                                 cfg.watering, [], RobotState(), lambda t: None)
        self.watch = driving_watch(LearnerPaths(tmp_path), learner_settings(cfg), store,
                                   self.learner, self.policy)
        self.v = 0.0

    def drive(self, frames: int, bump_every: int = 0) -> str:
        """The reason of the last drive command."""
        for i in range(frames):
            tick = self.robot.tick(bumper=bump_every > 0 and i % bump_every == 0,
                                   step_m=self.v * 0.1)
            self.policy.run(tick)
            self.watch.run(tick)
            self.v = tick.drive.v_mps
        return tick.drive.reason


def test_after_the_bump_alarm_the_robot_drives_slowly_until_the_retrain_drives(tmp_path,
                                                                                adapters):
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*adapters[0], VAL, margin=1.0)
    bot = SlowableRobot(tmp_path, store)
    assert bot.drive(100) == "cruise" and bot.v == pytest.approx(0.4)
    bot.drive(6, bump_every=2)  # three bumps within a minute
    assert bot.learner.asked == ["bumps"]
    assert bot.drive(1) == "cruise+caution" and bot.v == pytest.approx(0.12)
    assert bot.drive(300) == "cruise+caution", "slow while the retrain runs"
    store.publish(*adapters[0], VAL, margin=1.0)  # the retrain is in
    assert bot.drive(2) == "cruise" and bot.v == pytest.approx(0.4)
    assert bot.watch.slow_m == pytest.approx(301 * 0.012, rel=0.05)


def test_slow_driving_ends_after_30_m_without_a_bump(tmp_path, adapters):
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*adapters[0], VAL, margin=1.0)
    bot = SlowableRobot(tmp_path, store)
    bot.drive(100)
    bot.drive(6, bump_every=2)
    bot.drive(2000)  # 24 m
    bot.drive(1, bump_every=1)  # one more bump: the 30 m start again
    assert bot.drive(2000) == "cruise+caution"
    assert bot.learner.asked == ["bumps"], "one bump is not an alarm"
    assert bot.drive(600) == "cruise", "30 m without a bump since the last one"
    assert bot.v == pytest.approx(0.4)


def test_with_bump_hold_the_robot_stands_still_while_the_alarms_retrain_runs(tmp_path,
                                                                             adapters):
    store = AdapterStore(tmp_path / "adapters", backbone_sha256=SHA, feature_dim=DIM)
    store.publish(*adapters[0], VAL, margin=1.0)
    cfg = Config()
    cfg = dataclasses.replace(cfg, triggers=dataclasses.replace(cfg.triggers, bump_hold=True))
    bot = SlowableRobot(tmp_path, store, cfg)
    bot.drive(100)
    bot.drive(6, bump_every=2)  # the alarm: its retrain is asked for
    x = bot.robot.x
    assert bot.drive(50) == "cruise+hold" and bot.v == 0.0
    assert bot.robot.x == pytest.approx(x, abs=1e-9), "not a centimetre while it learns"
    bot.learner.busy = False  # the retrain ended, rejected: the same adapter drives on
    assert bot.drive(2) == "cruise+caution" and bot.v == pytest.approx(0.12)
    bot.drive(6, bump_every=2)  # a second alarm; this time the retrain is published
    assert bot.drive(3) == "cruise+hold"
    store.publish(*adapters[0], VAL, margin=1.0)
    bot.learner.busy = False
    assert bot.drive(2) == "cruise" and bot.v == pytest.approx(0.4)
    assert bot.watch.hold_frames >= 53
