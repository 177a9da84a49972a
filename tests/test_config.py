"""Settings for `tvmpd serve`: TOML file, TVMPD_* environment, flags, sizes with units; `tvmpd config`."""

from __future__ import annotations

import tomllib

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from tvmpd.supervisor.cli import main
from tvmpd.supervisor.config import parse_size

TOML = """
max_frame = "512M"
cpu-workers = 3
read_timeout = 7.5
log_level = "debug"
devices = ["cpu", "0:0"]
host_memory = 1024
"""


def effective(result) -> dict:
    assert result.exit_code == 0, result.output
    return tomllib.loads(result.output)


def sources(result) -> dict:
    return {line.split(" = ")[0].lstrip("# "): line.rsplit("# ", 1)[1]
            for line in result.output.splitlines() if " = " in line}


def test_flags_beat_environment_beat_file_beat_defaults(tmp_path):
    path = tmp_path / "tvmpd.toml"
    path.write_text(TOML)
    env = {"TVMPD_CPU_WORKERS": "2", "TVMPD_READ_TIMEOUT": "5", "TVMPD_HOST_MEMORY": "64G"}
    result = CliRunner().invoke(main, ["config", "--config", str(path), "--cpu-workers", "1"], env=env)
    got = effective(result)
    assert got["cpu_workers"] == 1  # flag over env over file
    assert got["read_timeout"] == 5.0  # env over file
    assert got["host_memory"] == 64 << 30  # env, with a unit
    assert got["max_frame"] == 512 << 20  # file, with a unit
    assert got["log_level"] == "DEBUG" and got["devices"] == "cpu,0:0"  # file
    assert got["max_cycles"] == 1 << 25  # default
    src = sources(result)
    assert src["cpu_workers"] == "flag" and src["read_timeout"] == "env TVMPD_READ_TIMEOUT"
    assert src["max_frame"] == "file" and src["max_cycles"] == "default"


def test_the_default_file_is_read_and_the_output_is_a_config_file(tmp_path):
    folder = tmp_path / "tvmpd"
    folder.mkdir()
    (folder / "tvmpd.toml").write_text('max_jobs = 9\nlog_format = "json"\n')
    runner = CliRunner()
    first = runner.invoke(main, ["config"], env={"XDG_CONFIG_HOME": str(tmp_path)})
    got = effective(first)
    assert got["max_jobs"] == 9 and got["log_format"] == "json"
    again = tmp_path / "again.toml"
    again.write_text(first.output)
    second = runner.invoke(main, ["config", "--config", str(again)],
                           env={"XDG_CONFIG_HOME": str(tmp_path / "elsewhere")})
    assert effective(second) == got


@pytest.mark.parametrize("args, env, words", [
    (["--log-level", "bogus"], {}, "'bogus' is not one of"),
    (["--omp-init", "7"], {}, "'7' is not one of"),
    (["--max-frame", "12Q"], {}, "is not a size"),
    ([], {"TVMPD_HOST_MEMORY": "lots"}, "is not a size"),
    (["--config", "/nonexistent/tvmpd.toml"], {}, "cannot read config"),
])
def test_bad_settings_are_one_line_and_exit_2(args, env, words):
    result = CliRunner().invoke(main, ["config", *args], env=env)
    assert result.exit_code == 2, result.output
    assert words in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith("tvmpd: ")


def test_unknown_or_bad_toml_is_refused(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text("max_frme = 1\n")
    result = CliRunner().invoke(main, ["config", "--config", str(path)])
    assert result.exit_code == 2 and "unknown setting 'max_frme'" in result.output
    path.write_text("max_frame = \n")
    result = CliRunner().invoke(main, ["config", "--config", str(path)])
    assert result.exit_code == 2 and "not valid TOML" in result.output


@given(st.integers(0, 1 << 20), st.sampled_from(["", "K", "M", "G", "T"]), st.sampled_from(["", "B", "iB"]))
def test_sizes_with_units(n, unit, suffix):
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
    text = f"{n}{unit}{suffix if unit else ''}"
    assert parse_size(text) == n * scale
    assert parse_size(text.lower()) == n * scale


@pytest.mark.parametrize("bad", ["", "G", "-1", "1.2.3G", "5X", "ten"])
def test_non_sizes_are_refused(bad):
    with pytest.raises(ValueError):
        parse_size(bad)
