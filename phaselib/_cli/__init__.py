"""The command line: ``python -m phaselib map|precompute|grains|classify|spots|convert ...``.

One module per subcommand (``_map.py``, ``_precompute.py``, ``_grains.py``, ``_convert.py``),
each with ``add_parser`` and ``run``; ``_common.py`` holds the input options they share.
Errors of the input end in one line on stderr and exit status 2.
"""

from __future__ import annotations

import os
import sys

from . import _classify, _grains, _map, _precompute, _spots
from ._common import Parser, error_message, plain_warnings, unexpected_message

__all__ = ["build_parser", "main"]

_COMMANDS = {"map": _map, "precompute": _precompute, "grains": _grains, "classify": _classify,
             "spots": _spots}


class _Parser(Parser):
    """:class:`Parser` whose list of unrecognised arguments is cut short: a glob of 661 FITS frames the shell
    expanded (unquoted) was echoed whole, 30 000 characters with no word on the quotes."""

    def error(self, message):
        head = "unrecognized arguments: "
        extra = message[len(head):].split(" ") if message.startswith(head) else []
        if len(extra) > 4:
            glob = ('; a pattern the shell expanded? quote it ("frames/*.fits") or give the folder'
                    if len({os.path.splitext(e)[1] for e in extra}) == 1 else "")
            message = f"{head}{' '.join(extra[:3])} and {len(extra) - 3} more{glob}"
        super().error(message)


def build_parser():
    """The argument parser of ``python -m phaselib`` (every subcommand but ``convert``)."""
    p = _Parser(prog="python -m phaselib", description="Phase maps from EDS spectrum images.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("convert", help="convert a big .bcf to a row-chunked .zspy, a few rows at a time "
                   "(python -m phaselib convert MAP.bcf OUT.zspy --help)")
    sub.add_parser("segment", help="deep segmentation of PP/XP/BSE images: segment train|evaluate, or "
                   "segment --input_model M --input_path P (python -m phaselib segment --help)")
    for module in _COMMANDS.values():
        module.add_parser(sub)
    return p


def main(argv=None):
    """Run ``python -m phaselib`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status (130 after
    Ctrl-C: one line, no traceback; the result folder is then not written, see :mod:`phaselib._atomic`)."""
    try:
        with plain_warnings():
            return _main(sys.argv[1:] if argv is None else list(argv))
    except KeyboardInterrupt:
        print("phaselib: interrupted", file=sys.stderr)
        return 130


def _main(argv):
    if argv[:1] == ["segment"]:  # python -m phaselib segment [train|evaluate] ...
        from ._segment import main as segment

        return segment(argv[1:])
    try:
        if argv[:1] == ["convert"]:  # python -m phaselib convert MAP.bcf OUT.zspy [...] (its own parser)
            from ._convert import main as convert

            return convert(argv[1:])
        args = build_parser().parse_args(argv)
        _COMMANDS[args.command].run(args)
    except BrokenPipeError:  # output piped into `head` and the like: not an error of the input
        return 0
    except (ValueError, FileNotFoundError, FileExistsError, TypeError, MemoryError, OSError) as err:
        print(f"phaselib: error: {error_message(err)}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - one line, never a traceback (PHASELIB_DEBUG=1 shows it)
        if os.environ.get("PHASELIB_DEBUG"):
            raise
        print(f"phaselib: error: {unexpected_message(err)}", file=sys.stderr)
        return 2
    return 0
