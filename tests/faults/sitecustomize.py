"""Test plug-in: fault injection inside the daemon's processes, from the test suite only.

`tests/daemon_harness.py` puts this folder first on PYTHONPATH when a test asks for a fault, so every
process of that daemon (the supervisor and each spawned child) imports this module at start-up; with
TVMPD_FAULTS unset it does nothing. See tests/faults/inject.py for the fault specification.
"""

import os

if os.environ.get("TVMPD_FAULTS"):
    from tests.faults import inject

    inject.install(os.environ["TVMPD_FAULTS"], os.environ.get("TVMPD_FAULTS_DIR", "/tmp"))
