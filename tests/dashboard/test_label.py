"""`gardenbot label` against a real dashboard beside a running loop: the owner's answers typed
at a terminal reach the replay buffer; mistakes are clear errors that lose nothing."""

from __future__ import annotations

import io
import json
import time
import urllib.request

import pytest

from robot.commands.gardenbot import main as cli
from robot.dashboard.service import DashboardService
from tests.dashboard.robot_loop import start_robot, stop_robot

TOKEN = "L" * 32


def _service(cfg):
    return DashboardService(cfg.web, cfg.mqtt, TOKEN, host="127.0.0.1", port=0)


@pytest.fixture
def robot():
    r = start_robot(_service)
    r.policy.reason = "stop_low_confidence"  # unsure of the painted patch: a question
    deadline = time.monotonic() + 5
    while not len(r.service.board):
        assert time.monotonic() < deadline, "the robot asked nothing"
        time.sleep(0.02)
    yield r
    stop_robot(r)


def _url(robot) -> str:
    return f"http://127.0.0.1:{robot.service.server.port}/live?token={TOKEN}"


def _wait_for(check, timeout_s=3.0):
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_help_works():
    with pytest.raises(SystemExit) as e:
        cli(["label", "--help"])
    assert e.value.code == 0


def test_the_owner_answers_at_the_terminal_and_the_cells_reach_the_buffer(
        robot, tmp_path, monkeypatch, capsys):
    [q] = robot.service.board.open_questions()
    monkeypatch.setattr("sys.stdin", io.StringIO("pond\n7\n1\n"))
    assert cli(["label", _url(robot), "--no-window", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{q.id}: 12 cells the robot was unsure of, summer" in out
    assert f"picture: {tmp_path / (q.id + '.png')}" in out
    assert (tmp_path / f"{q.id}.png").stat().st_size > 1000
    assert "'pond' is not a class of this robot; type one of 1 lawn, 2 path" in out
    assert "'7' is not a class" in out, "a number outside the list is asked again too"
    assert "12 cells labelled lawn; they go to the replay buffer" in out
    _wait_for(lambda: robot.memory.offered["owner"] == 12)
    assert "1 answers sent" in out


def test_a_label_outside_the_class_map_is_refused_and_the_question_stays_open(robot, capsys):
    [q] = robot.service.board.open_questions()
    assert cli(["label", _url(robot), "--answer", f"{q.id}=pond"]) == 1
    assert "'pond' is not a class of this robot" in capsys.readouterr().err
    # the API itself refuses it too (a client that does not check), with the reason
    req = urllib.request.Request(
        f"http://127.0.0.1:{robot.service.server.port}/api/questions/{q.id}/answer",
        data=json.dumps({"class": "pond"}).encode(), method="POST",
        headers={"Authorization": f"Bearer {TOKEN}"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 400 and "'pond' is not a class" in json.loads(e.value.read())["error"]
    assert robot.service.board.open_questions() == [q], "nothing lost"
    assert cli(["label", _url(robot), "--answer", f"{q.id}=path"]) == 0
    _wait_for(lambda: robot.memory.offered["owner"] == 12)


def test_an_answer_to_a_question_that_no_longer_exists_is_a_clear_error(robot, capsys):
    [q] = robot.service.board.open_questions()
    robot.service.board.answer(q.id, "lawn")  # answered on the web page meanwhile
    assert cli(["label", _url(robot), "--answer", f"{q.id}=soil", "--answer", "q999=lawn"]) == 1
    err = capsys.readouterr().err
    assert f"no open question '{q.id}' (answered already" in err and "'q999'" in err
    _wait_for(lambda: robot.memory.offered["owner"] == 12)
    assert robot.memory.offered["owner"] == 12, "the first answer stands, nothing doubled"


def test_a_wrong_token_or_no_dashboard_is_a_clear_error(robot, capsys):
    port = robot.service.server.port
    assert cli(["label", f"http://127.0.0.1:{port}/live?token=wrong", "--list"]) == 1
    assert "refused the token" in capsys.readouterr().err
    assert cli(["label", f"127.0.0.1:1/?token={TOKEN}", "--list"]) == 1
    assert "cannot reach the dashboard at http://127.0.0.1:1" in capsys.readouterr().err
    assert cli(["label", _url(robot), "--list"]) == 0
    assert "1 open; classes: lawn, path, soil, plant, obstacle" in capsys.readouterr().out
