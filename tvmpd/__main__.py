"""`python -m tvmpd`: the same command line as the `tvmpd` script."""

from tvmpd.supervisor.cli import main

main()
