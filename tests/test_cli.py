from click.testing import CliRunner

from tvmpd.supervisor.cli import main


def test_devices_lists_pocl_cpu():
    result = CliRunner().invoke(main, ["devices"])
    assert result.exit_code == 0, result.output
    assert "CPU pool: numpy prover" in result.output
    assert "CPU pool device" not in result.output
