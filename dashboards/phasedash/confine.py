"""What a page may read and write on the server, and what its messages may say.

A page is not a shell: the path box, ``?map=``, uploads and exports reach only

* the **data folder** (``PHASEDASH_DATA_DIR``, default ``dashboards/data``): maps a page may open
  (uploads go to its ``uploads/`` sub-folder);
* the **export folder** (``PHASEDASH_EXPORT_DIR``, default ``dashboards/exports``): where results
  are written.

A name is taken relative to its folder; ``..`` is refused, an absolute path or a symlink leading
outside the folder is refused, and so is anything but a regular file or a folder (a FIFO would
hang the kernel, a device never ends). Messages name files, never server paths, and never show
raw Python error text or a file's contents: :func:`user_message`.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import traceback
from pathlib import Path

DASHBOARDS = Path(__file__).resolve().parent.parent
DATA_ENV, EXPORT_ENV = "PHASEDASH_DATA_DIR", "PHASEDASH_EXPORT_DIR"
_OWN_CODE = (str(DASHBOARDS / "phasedash"), str(Path(__import__("phaselib").__file__).resolve().parent))


class PageError(ValueError):
    """A refusal whose message is meant for the page as it is."""


def data_root() -> Path:
    """The folder a page may open maps from (created if missing)."""
    return _root(DATA_ENV, DASHBOARDS / "data")


def export_root() -> Path:
    """The folder a page may write results to (created if missing)."""
    return _root(EXPORT_ENV, DASHBOARDS / "exports")


def _root(env, default) -> Path:
    root = Path(os.environ.get(env) or default).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def _inside(name, root, what) -> Path:
    """``name`` (relative to ``root``, or absolute inside it) resolved, symlinks followed; refused outside."""
    text = str(name).strip()
    if not text or "\0" in text:
        raise PageError(f"Give a name in the {what} folder.")
    path = Path(text)
    if ".." in path.parts:
        raise PageError(f"'..' is not allowed: give a name inside the {what} folder.")
    real = (path if path.is_absolute() else root / path).resolve()
    if real != root and root not in real.parents:
        raise PageError(f"{path.name or 'That path'}: only the {what} folder can be used from this page.")
    return real


def _check_kind(real, shown):
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise PageError(f"{shown}: no such file in the data folder.") from None
    except OSError:
        raise PageError(f"{shown}: cannot be read.") from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise PageError(f"{shown}: not a regular file (a pipe, a device or a socket cannot be opened).")


def input_path(name) -> Path:
    """The map ``name`` in the data folder: a regular file (or a ``.zspy`` folder) inside it.

    An ``.rpl`` brings its ``.raw``: that one is checked too.
    """
    real = _inside(name, data_root(), "data")
    _check_kind(real, Path(str(name)).name)
    if real.suffix.lower() == ".rpl":
        for raw in (real.with_suffix(".raw"), real.with_suffix(".RAW")):
            if os.path.lexists(raw):
                _check_kind(_inside(raw, data_root(), "data"), raw.name)
    return real


def output_folder(name) -> Path:
    """The folder ``name`` in the export folder (not created here); refused outside it or if not a folder."""
    real = _inside(name, export_root(), "export")
    if os.path.lexists(real) and not real.is_dir():
        raise PageError(f"{Path(str(name)).name}: exists and is not a folder.")
    return real


def shown_name(path) -> str:
    """How a page names a file: its name only."""
    return Path(str(path)).name


_ABS_PATH = re.compile(r"(?<![\w.])/(?:[^\s'\"`,:;()\[\]]+/)+([^\s'\"`,:;()\[\]]*)")
_RAW = re.compile(r"Traceback|File \"|Errno|line \d+, in|object has no attribute|unsupported operand|"
                  r"invalid literal|could not convert|codec can't|can't decode|not subscriptable|"
                  r"index \d+ is out of bounds|takes \d+ positional|unexpected keyword")


def scrub_paths(text) -> str:
    """Absolute server paths in ``text`` replaced by their file names."""
    return _ABS_PATH.sub(lambda m: m.group(1) or "", str(text))


def _raised_by_own_code(err) -> bool:
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and str(Path(tb.tb_frame.f_code.co_filename).resolve()).startswith(_OWN_CODE)


def user_message(err, doing="working") -> str:
    """What the page says about ``err``: a clear sentence, no server path, no raw Python text.

    Messages written for users (:class:`PageError`, and the ``ValueError``/``TypeError`` of phaselib
    and phasedash) are shown; an ``OSError`` becomes a sentence naming the file; anything else
    becomes a short generic sentence, with the traceback in the server's log.
    """
    if isinstance(err, PageError):
        text = str(err)
    elif isinstance(err, OSError) and getattr(err, "filename", None):
        reason = {FileNotFoundError: "no such file", PermissionError: "permission denied",
                  IsADirectoryError: "is a folder", NotADirectoryError: "not a folder"}.get(type(err))
        text = f"{shown_name(err.filename)}: {reason or (err.strerror or 'could not be read or written').lower()}."
    elif isinstance(err, OSError) and not _raised_by_own_code(err):
        text = f"A file could not be read or written ({(err.strerror or 'damaged or not in this format').lower()})."
    elif isinstance(err, (ValueError, TypeError, OSError)) and _raised_by_own_code(err) and not _RAW.search(str(err)):
        text = str(err)
    else:
        traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
        text = f"Something went wrong ({doing}); the page keeps working (details are in the server's log)."
    return scrub_paths(text) or type(err).__name__


def quotes_file(message, path, window=16) -> bool:
    """Whether ``message`` quotes ``window`` or more characters of the start of the file ``path``."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            head = f.read(4096).decode("latin-1")
    except OSError:
        return False
    head = re.sub(r"\s+", " ", head)
    msg = re.sub(r"\s+", " ", str(message))
    return any(head[i:i + window] in msg for i in range(0, max(len(head) - window + 1, 0))
               if head[i:i + window].strip())
