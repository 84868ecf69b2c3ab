"""``python -m phaselib``: dispatches to the command line (:mod:`phaselib._cli`)."""

import os
import sys

from ._cli import main

if __name__ == "__main__":
    code = main()
    if code == 130:  # interrupted: a read-ahead thread may wait for ever on a Dask cluster that died with the Ctrl-C
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
