from __future__ import annotations

from pathlib import Path

import pytest

from robot.acting.config import PolicyConfig, Zone
from robot.commands.gardenbot import main as cli
from robot.common.errors import ConfigError
from robot.common.schema import parse_clock_range
from robot.runtime.config import (
    Config,
    load_config,
    parse_config,
    render_config,
    schema,
    write_default_config,
)


def test_default_file_loads_back_to_the_defaults(tmp_path: Path):
    path = write_default_config(tmp_path / "gardenbot.toml")
    cfg = load_config(path)
    assert cfg == Config()
    assert cfg.source == path.resolve()


def test_default_file_shows_every_key_with_its_help_and_unit():
    text = render_config()
    for section, key, _default, unit, help_ in schema():
        if section == "watering.zones":
            assert f"# {key} = " in text  # the commented example zone
            continue
        assert f"\n{key} = " in text, key
        assert help_ in text
        if unit:
            assert f"{help_} [{unit}]" in text


def test_an_edited_config_round_trips_through_render(tmp_path: Path):
    text = """
[policy]
max_speed_mps = 0.25
[watering]
quiet_hours = ""
[[watering.zones]]
id = 3
x_m = 1.5
y_m = -0.5
radius_m = 0.4
[[watering.zones]]
id = 4
x_m = 2
y_m = 1
"""
    cfg = parse_config(text)
    assert cfg.policy.max_speed_mps == 0.25
    assert cfg.watering.zones == (Zone(3, 1.5, -0.5, 0.4), Zone(4, 2.0, 1.0, 0.3))
    assert isinstance(cfg.watering.zones[1].x_m, float), "an integer is accepted for a float"
    assert parse_config(render_config(cfg)) == cfg


def test_unknown_key_names_key_line_and_a_suggestion():
    text = "[camera]\nsource = \"0\"\n\n[policy]\nmax_speed_mps = 0.3\nmax_sped_mps = 0.5\n"
    with pytest.raises(ConfigError) as e:
        parse_config(text, "g.toml")
    msg = str(e.value)
    assert msg.startswith("g.toml:6: [policy] max_sped_mps: unknown key")
    assert "did you mean 'max_speed_mps'?" in msg


def test_unknown_section_names_its_header_line():
    with pytest.raises(ConfigError, match=r"^g.toml:3: unknown section \[cameras\] \(did you "
                       r"mean 'camera'\?\)"):
        parse_config("[policy]\n\n[cameras]\nsource = \"1\"\n", "g.toml")


@pytest.mark.parametrize(("line", "problem"), [
    ("max_speed_mps = -0.1", "must be > 0, got -0.1"),
    ("max_speed_mps = \"fast\"", "must be a number, got 'fast'"),
    ("max_speed_mps = true", "must be a number, got true"),
    ("max_speed_mps = nan", "must be a finite number"),
    ("command_ttl_ms = 2.5", "must be a whole number, got 2.5"),
    ("command_ttl_ms = 10", "must be between 20 and 5000, got 10"),
    ("min_confidence = 1.5", "must be between 0 and 1, got 1.5"),
])
def test_bad_values_name_key_and_line(line: str, problem: str):
    key = line.split()[0]
    text = f"# a comment\n[policy]\n{line}\n"
    with pytest.raises(ConfigError) as e:
        parse_config(text, "g.toml")
    assert str(e.value).startswith(f"g.toml:3: [policy] {key}: {problem}")


@pytest.mark.parametrize(("section", "line", "problem"), [
    ("perception", "variant = \"int4\"", "must be one of 'int8', 'fp32'"),
    ("watering", "quiet_hours = \"22:00 to 07:00\"", "not a range HH:MM-HH:MM"),
    ("watering", "quiet_hours = \"22-07\"", "'22' is not a 24-hour time HH:MM"),
    ("watering", "quiet_hours = \"22:00-25:00\"", "'25:00' is not a 24-hour time"),
    ("triggers", "schedule = \"2am\"", "cannot read schedule '2am'; use 'off'"),
    ("triggers", "bump_slow_mps = -0.1", "must be >= 0"),
    ("triggers", "bump_clear_m = 0", "must be > 0"),
    ("learner", "strategy = \"magic\"", "must be one of 'finetune', 'replay'"),
    ("logging", "json = \"yes\"", "must be true or false"),
    ("serial", "port = \"\"", "must not be empty"),
])
def test_bad_values_in_every_kind_of_key(section: str, line: str, problem: str):
    with pytest.raises(ConfigError, match=f"g.toml:2: \\[{section}\\] "):
        parse_config(f"[{section}]\n{line}\n", "g.toml")
    with pytest.raises(ConfigError) as e:
        parse_config(f"[{section}]\n{line}\n", "g.toml")
    assert problem in str(e.value)


def test_all_problems_are_reported_at_once():
    text = "[policy]\nmax_speed_mps = 0\n[camera]\nwidth = -5\nnope = 1\n"
    with pytest.raises(ConfigError) as e:
        parse_config(text, "g.toml")
    lines = str(e.value).splitlines()
    assert [ln.split(" ")[0] for ln in lines] == ["g.toml:2:", "g.toml:4:", "g.toml:5:"]


def test_cross_key_rules_point_at_the_key_to_change():
    with pytest.raises(ConfigError, match=r"g.toml:3: \[policy\] stop_distance_m: must be less "
                       r"than slow_down_distance_m \(0.5\)"):
        parse_config("[policy]\nslow_down_distance_m = 0.5\nstop_distance_m = 0.6\n", "g.toml")
    with pytest.raises(ConfigError, match=r"duration_ms: must not exceed max_duration_ms"):
        parse_config("[watering]\nduration_ms = 40000\n")


def test_zone_problems_name_the_zone_entry():
    text = ("[[watering.zones]]\nid = 1\nx_m = 0\ny_m = 0\n"
            "[[watering.zones]]\nid = 1\nx_m = 1\ny_m = 0\nradius_m = -1\n"
            "[[watering.zones]]\nx_m = 1\n")
    with pytest.raises(ConfigError) as e:
        parse_config(text, "g.toml")
    msg = str(e.value)
    assert "g.toml:9: [watering.zones[2]] radius_m: must be > 0, got -1" in msg
    assert "g.toml:10: [watering.zones[3]] entry 3 lacks 'id'" in msg
    with pytest.raises(ConfigError, match=r"g.toml:6: \[watering.zones\[2\]\] id: zone id 1 is "
                       r"used twice"):
        parse_config(text.replace("radius_m = -1\n", "").split("[[watering.zones]]\nx_m")[0],
                     "g.toml")


def test_broken_toml_is_a_config_error_with_its_position(tmp_path: Path):
    p = tmp_path / "g.toml"
    p.write_text("[policy]\nmax_speed_mps = \n")
    with pytest.raises(ConfigError, match=r"g.toml: not valid TOML: .*line 2"):
        load_config(p)


def test_missing_file_says_how_to_make_one(tmp_path: Path):
    with pytest.raises(ConfigError, match="config init"):
        load_config(tmp_path / "nope.toml")


def test_init_refuses_to_overwrite_and_keeps_the_old_file(tmp_path: Path):
    p = tmp_path / "g.toml"
    p.write_text("[policy]\nmax_speed_mps = 0.2\n")
    with pytest.raises(ConfigError, match="already exists"):
        write_default_config(p)
    assert load_config(p).policy.max_speed_mps == 0.2
    write_default_config(p, overwrite=True)
    assert load_config(p) == Config()


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path):
    (tmp_path / "etc").mkdir()
    p = tmp_path / "etc" / "g.toml"
    p.write_text("[paths]\ndata_dir = \"state\"\n")
    cfg = load_config(p)
    assert cfg.resolve(cfg.paths.data_dir) == (tmp_path / "etc" / "state").resolve()
    assert cfg.resolve("/abs/x") == Path("/abs/x")


def test_quiet_hours_parse_and_may_wrap_midnight():
    assert parse_clock_range("22:00-07:00") == ((22, 0), (7, 0))
    assert parse_clock_range("") is None


def test_camera_section_gives_the_camera_model():
    cam = parse_config("[camera]\nwidth = 640\nheight = 480\npitch_deg = 25\n").camera.model()
    assert (cam.width, cam.height, cam.pitch_deg) == (640, 480, 25.0)
    assert cam.fx == pytest.approx(320 / 0.7002075, rel=1e-4)  # tan(35 degrees)


def test_policy_defaults_are_a_valid_config():
    assert PolicyConfig().stop_distance_m < PolicyConfig().slow_down_distance_m


def test_cli_init_then_check(tmp_path: Path, capsys):
    p = tmp_path / "gardenbot.toml"
    assert cli(["config", "init", str(p)]) == 0
    assert cli(["config", "check", str(p)]) == 0
    assert "ok" in capsys.readouterr().out
    assert cli(["config", "check", "--print", str(p)]) == 0
    assert parse_config(capsys.readouterr().out) == Config()
    p.write_text("[camera]\nwidth = 0\n")
    assert cli(["config", "check", str(p)]) == 1
    assert f"{p}:2: [camera] width: must be > 0" in capsys.readouterr().err
    assert cli(["config", "init", str(p)]) == 1, "init must not overwrite without --force"


def test_docs_key_reference_matches_the_code():
    from robot.runtime.config import render_markdown

    doc = (Path(__file__).parents[2] / "docs" / "config.md").read_text(encoding="utf-8")
    table = doc.split("<!-- keys:begin -->\n", 1)[1].split("<!-- keys:end -->", 1)[0]
    assert table == render_markdown(), "regenerate with `gardenbot config keys`"
