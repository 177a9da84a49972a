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


def test_build_rejects_unknown_device():
    result = CliRunner().invoke(main, ["build", "--device", "9:9"])
    assert result.exit_code == 2
    assert "no OpenCL device '9:9'" in result.output


def test_build_numpy_pool_compiles_the_vm():
    # "cpu" (the numpy prover) has no kernels: the build is the VM's compile, then it reports the time
    result = CliRunner().invoke(main, ["build", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "cpu: VM compile" in result.output and "cpu: built in" in result.output
