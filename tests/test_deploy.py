"""The shipped systemd unit and example settings agree with the daemon's options."""

from __future__ import annotations

import tomllib

from click.testing import CliRunner

from tests.daemon_harness import ROOT
from tvmpd.supervisor.cli import main

DEPLOY = ROOT / "deploy"


def unit_settings() -> tuple[dict[str, str], dict[str, str]]:
    """(directives, Environment= variables) of deploy/tvmpd.service."""
    directives, env = {}, {}
    for line in (DEPLOY / "tvmpd.service").read_text().splitlines():
        if "=" not in line or line.lstrip().startswith(("#", "[")):
            continue
        key, _, value = line.partition("=")
        if key == "Environment":
            name, _, val = value.partition("=")
            env[name] = val
        else:
            directives[key] = value
    return directives, env


def test_unit_is_a_notify_service_that_drains_before_it_is_killed():
    unit, env = unit_settings()
    assert unit["Type"] == "notify" and unit["KillMode"] == "mixed"
    assert unit["CacheDirectory"] == "tvmpd" and env["TVMPD_CACHE_DIR"] == "/var/cache/tvmpd"
    assert env["XDG_CACHE_HOME"].startswith("/var/cache/" + unit["CacheDirectory"])
    assert float(env["TVMPD_DRAIN_TIMEOUT"]) < float(unit["TimeoutStopSec"])


def test_unit_environment_and_example_file_are_valid_settings():
    _, env = unit_settings()
    tvmpd_env = {k: v for k, v in env.items() if k.startswith("TVMPD_")}
    result = CliRunner().invoke(main, ["config", "--config", str(DEPLOY / "tvmpd.toml")], env=tvmpd_env)
    assert result.exit_code == 0, result.output
    got = tomllib.loads(result.output)
    assert got["drain_timeout"] == float(env["TVMPD_DRAIN_TIMEOUT"])
    assert got["cache_dir"] == env["TVMPD_CACHE_DIR"]
    assert got["max_frame"] == 1 << 30 and got["tcp"] == "127.0.0.1:5555"
