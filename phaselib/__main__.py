"""``python -m phaselib``: dispatches to the command line (:mod:`phaselib._cli`)."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
