"""The `tvmpd` command line: a click group whose subcommands are the daemon's entry points."""

from __future__ import annotations

import click

from opencl.devices import cpu_device, gpu_devices, list_devices


@click.group()
def main() -> None:
    """tvmpd: a proving daemon for Triton VM v7.0.0."""


@main.command()
def devices() -> None:
    """List the OpenCL devices and which ones tvmpd would use."""
    found = list_devices()
    if not found:
        click.echo("no OpenCL platform found (install pocl-binary-distribution or a GPU driver)")
        return
    click.echo(f"{'key':6} {'kind':5} {'CUs':>4} {'memory':>10}  platform / device")
    for d in found:
        click.echo(f"{d.key:6} {d.kind:5} {d.compute_units:4d} {d.global_mem_bytes / 2**30:8.1f}GB  "
                   f"{d.platform} / {d.name}")
    cpu = cpu_device()
    click.echo(f"CPU pool device: {cpu.key + ' ' + cpu.name if cpu else 'none (numpy backend)'}")
    gpus = gpu_devices()
    if gpus:
        for i, g in enumerate(gpus):
            click.echo(f"GPU child {i}: {g.key} {g.name}")
    else:
        click.echo("GPU children: none")
