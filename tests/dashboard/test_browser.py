"""The dashboard in a real browser (headless Chromium from Debian, driven through its WebDriver by
selenium; nothing is downloaded) against a real `gardenbot simulate --web` on the bundled
sample garden: the live image changes, a question answered reaches the replay buffer, retrain
pressed brings a new adapter version, rollback goes back, a wrong token is refused.

``GARDENBOT_SCREENSHOTS=DIR`` also saves a screenshot of each page there (docs/dashboard.md's
pictures are made so).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models import SAMPLES_DIR
from tests.dashboard.robot_loop import free_port, need_tool

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                  "--window-size=900,1300")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`gardenbot simulate --web` on the samples, twice over (about 80 s at real time)."""
    data = tmp_path_factory.mktemp("sim-data")
    port = free_port()
    recs = [SAMPLES_DIR / "g07-summer", SAMPLES_DIR / "g07-autumn"] * 2
    args = [sys.executable, "-m", "robot.commands.gardenbot", "simulate", "--web",
            "--web-port", str(port), "--press-after", "-1", "--wait-learner", "0",
            "--data-dir", str(data)]
    for r in recs:
        args += ["--recording", str(r)]
    log = tmp_path_factory.mktemp("sim-log") / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, text=True)
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None:
            m = re.search(r"dashboard: (http://\S+)", log.read_text())
            if m:
                url = m.group(1)
            elif proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"simulate --web printed no URL:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield {"url": url, "port": port, "base": f"http://127.0.0.1:{port}",
               "token": url.split("token=")[1], "proc": proc, "log": log}
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    chromium = need_tool("chromium", "chromium")
    driver_path = need_tool("chromedriver", "chromium-driver")
    os.environ["SE_OFFLINE"] = "true"  # selenium must never fetch a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS,
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _state(sim: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(f"{sim['base']}/api/state",
                                 headers={"Authorization": f"Bearer {sim['token']}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _wait(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out: {what}")
        time.sleep(0.3)


def _shot(driver: Any, name: str) -> None:
    folder = os.environ.get("GARDENBOT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"dashboard-{name}.png"))


def test_a_wrong_token_is_refused(sim, browser):
    browser.get(f"{sim['base']}/live?token=not-the-token")
    assert "wrong token" in browser.page_source
    browser.get(f"{sim['base']}/learning")  # no cookie either
    assert "not signed in" in browser.page_source


def test_the_live_image_changes(sim, browser):
    from selenium.webdriver.common.by import By

    browser.get(sim["url"])  # the printed URL signs the browser in
    assert browser.current_url.endswith("/live")  # and the token left the address bar
    img = browser.find_element(By.ID, "live-view")
    _wait(lambda: browser.execute_script("return arguments[0].naturalWidth", img) > 0, 30,
          "the live view shows a frame")
    first = img.screenshot_as_png
    _wait(lambda: img.screenshot_as_png != first, 10, "the live image changes")
    _wait(lambda: browser.find_element(By.ID, "doing").text not in ("", "…"), 10,
          "the policy's state is shown")
    _shot(browser, "live")


def test_a_question_answered_reaches_the_replay_buffer(sim, browser):
    from selenium.webdriver.common.by import By

    browser.get(f"{sim['base']}/questions")
    buttons = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "[data-answer='lawn']"),
                    60, "the robot asks a question")
    _shot(browser, "questions")
    before = _state(sim)["buffer"].get("offered", {}).get("owner", 0)
    qid = buttons[0].find_element(By.XPATH, "./ancestor::div[@data-question]") \
        .get_attribute("data-question")
    buttons[0].click()
    _wait(lambda: "cells labelled lawn" in browser.find_element(By.ID, "message").text, 10,
          "the answer is acknowledged")
    _wait(lambda: _state(sim)["buffer"].get("offered", {}).get("owner", 0) > before, 15,
          "the owner's labels reach the replay buffer")
    assert not browser.find_elements(By.CSS_SELECTOR, f"[data-question='{qid}']")


def test_retrain_brings_a_new_version_and_rollback_goes_back(sim, browser):
    from selenium.webdriver.common.by import By

    browser.get(f"{sim['base']}/learning")
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "tr[data-version='1']"), 15,
          "the version table")
    browser.find_element(By.ID, "retrain").click()
    _wait(lambda: "retrain started" in browser.find_element(By.ID, "message").text, 10,
          "the retrain starts")
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "tr[data-version='2']"), 150,
          "a new adapter version appears")
    _wait(lambda: _state(sim)["adapter_version"] == "v2", 15, "perception runs v2")
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "tr.current[data-version='2']"), 10,
          "v2 is marked current")
    _shot(browser, "learning")
    browser.find_element(By.CSS_SELECTOR, "[data-rollback='1']").click()
    _wait(lambda: "now v1" in browser.find_element(By.ID, "message").text, 15,
          "the rollback is acknowledged")
    _wait(lambda: _state(sim)["adapter_version"] == "v1", 15, "perception runs v1 again")
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "tr.current[data-version='1']"), 10,
          "v1 is marked current")


def test_the_garden_page_shows_the_zones_and_stop_stops(sim, browser):
    from selenium.webdriver.common.by import By

    browser.get(f"{sim['base']}/garden")
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "[data-zone]"), 15, "the zones")
    _shot(browser, "garden")
    _wait(lambda: browser.find_element(By.ID, "stop").is_enabled(), 10, "stop is enabled")
    browser.find_element(By.ID, "stop").click()
    _wait(lambda: _state(sim)["owner_stopped"], 10, "the robot stops")
    _wait(lambda: _state(sim)["policy"]["reason"] == "stop_owner", 10, "nothing but stops")
    _wait(lambda: browser.find_element(By.ID, "resume").is_enabled(), 10, "resume is enabled")
    browser.find_element(By.ID, "resume").click()
    _wait(lambda: not _state(sim)["owner_stopped"], 10, "the robot resumes")
