from click.testing import CliRunner

from tvmpd.supervisor.cli import main


def test_devices_lists_pocl_cpu():
    from tvmpd.opencl.devices import POCL_PLATFORM, cpu_device

    result = CliRunner().invoke(main, ["devices"])
    assert result.exit_code == 0, result.output
    cpu = cpu_device()
    if cpu is not None and cpu.platform == POCL_PLATFORM:  # the pool proves on pocl where it is present
        assert f"CPU pool: OpenCL prover on {cpu.key} ({cpu.name})" in result.output
        assert "not used by default" not in result.output
    else:
        assert "CPU pool: numpy prover" in result.output
    assert "CPU pool device" not in result.output
