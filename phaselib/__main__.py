"""``python -m phaselib``: dispatches to the command line (:mod:`phaselib._cli`)."""

import os
import signal
import sys

from ._cli import main


def _terminated(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (a job's time-out, `kill`) as Ctrl-C: temporary outputs removed, one line


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    code = main()
    if code == 130:  # interrupted: a read-ahead thread may wait for ever on a Dask cluster that died with the Ctrl-C
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
