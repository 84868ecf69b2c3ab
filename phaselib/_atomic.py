"""Writing results so that nothing is half-written and no input is ever written over.

Every writer of phaselib (``PhaseMap.save``, ``results.precompute``, ``io.save``,
``io.bcf_to_zspy``, the ``grains`` command) goes through here:

* :func:`refuse_inputs`: the target is not one of the inputs (compared by resolved
  path and by ``os.path.samefile``, so symlinks and hard links are seen through), and
  no input lies inside a target folder that would be replaced;
* :func:`atomic_file` / :func:`atomic_folder`: the result is written into a temporary
  name next to the target (``.NAME.tmp-XXXX``, same file system) and renamed into
  place at the end. An existing folder is replaced by renaming it away
  (``.NAME.old-XXXX``), renaming the new one in, then deleting the old one. A run
  killed on the way leaves the old result whole (or, for a moment between two renames,
  under its ``.old`` name) and a hidden ``.tmp`` folder, never old and new files mixed.
  A symlink at the target is replaced by the new file; what it pointed to is untouched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["atomic_file", "atomic_folder", "check_folder_target", "cannot_write", "check_writable", "is_result_folder",
           "memmap_source", "refuse_inputs", "same_file"]


def same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` name one file (through symlinks and hard links)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def _inside(child, folder) -> bool:
    child, folder = os.path.realpath(child), os.path.realpath(folder)
    return child == folder or child.startswith(folder.rstrip(os.sep) + os.sep)


def refuse_inputs(target, inputs, *, folder=False):
    """Raise ValueError if writing ``target`` would write over one of ``inputs``.

    Parameters
    ----------
    target : str or Path
    inputs : iterable of str or Path or None
        Files (or folders) read to make the result; None entries are skipped. Nothing is written
        inside an input that is a folder (a ``.zspy`` store, a result folder).
    folder : bool
        ``target`` is a folder that will be replaced: also refuse when an input lies
        inside it.
    """
    target = Path(target)

    def named(item):  # `.` or `..` have no name of their own: the folder's (never its path)
        p = Path(item)
        return p.name or p.resolve().name or "/"
    for item in inputs:
        if item is None or str(item) == "":
            continue
        if same_file(target, item) or (folder and _inside(item, target)):
            raise ValueError(f"Refusing to overwrite the input '{named(item)}' (the output "
                             f"'{target.name}' is, or holds, that file); choose another output.")
        if Path(item).is_dir() and _inside(target, item):  # a .zspy store or a result folder read as input
            raise ValueError(f"Refusing to write '{target.name}' inside the input '{named(item)}' (it would "
                             f"change that input); choose an output outside it.")


def memmap_source(data):
    """The file behind a numpy memory map (or a view of one), else None."""
    import numpy as np

    seen = 0
    while data is not None and seen < 16:
        if isinstance(data, np.memmap) and getattr(data, "filename", None):
            return data.filename
        data = getattr(data, "base", None)
        seen += 1
    return None


def _check_parent(target: Path):
    parent = target.parent
    if not parent.is_dir():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            raise FileNotFoundError(f"Cannot create the folder '{parent.name}' for '{target.name}'.") from None
    check_writable(target)


def check_writable(target):
    """A PermissionError naming ``target`` (never its folder, never a temporary name) unless its folder,
    or the nearest one that exists, can be written to; a call before a long computation saves it."""
    target = Path(target)
    parent = target.parent
    while not parent.is_dir() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        read_only = hasattr(os, "statvfs") and bool(os.statvfs(parent).f_flag & getattr(os, "ST_RDONLY", 1))
        raise PermissionError(f"Cannot write '{target.name}': " + ("its file system is read-only." if read_only else
                                                                    "its folder is not writable (permission denied)."))


def cannot_write(target, err):
    """An OSError from a writer as one line naming ``target`` (a library's text may hold the whole path)."""
    why = os.strerror(err.errno) if getattr(err, "errno", None) else type(err).__name__
    return type(err)(f"Cannot write '{Path(target).name}' ({why}).") if isinstance(err, PermissionError) \
        else OSError(f"Cannot write '{Path(target).name}' ({why}).")


@contextlib.contextmanager
def atomic_file(target, *, overwrite=False):
    """Yield a temporary path next to ``target``; on success rename it to ``target``.

    The temporary name keeps ``target``'s suffix (writers that add one, as
    ``np.save``, see it already there). On error the temporary file is removed and
    ``target`` is left as it was.
    """
    target = Path(target)
    _check_parent(target)
    if target.is_dir() and not target.is_symlink():
        raise ValueError(f"'{target.name}' is a folder; give a file name.")
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise FileExistsError(f"'{target.name}' exists; pass overwrite=True (--overwrite) to replace it.")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{_short(target.stem)}.tmp-", suffix=target.suffix[:16],
                                   dir=target.parent)
    except OSError as err:
        raise cannot_write(target, err) from None
    os.close(fd)
    tmp = Path(tmp)
    # the permissions a new file gets (mkstemp's are owner-only), or those of the file replaced
    mode = 0o666 & ~_umask()
    if target.is_file() and not target.is_symlink():
        mode = target.stat().st_mode & 0o7777
    try:
        yield tmp
        if tmp.is_file():
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


def reserve(path, name=None):
    """Allocate the disk blocks of a file just sized (``np.lib.format.open_memmap`` makes it sparse, and writing through
    its memory map past a full disk kills the process with SIGBUS): an OSError naming ``name`` now, where there is no
    room; nothing where the file system cannot allocate ahead."""
    import errno

    if not hasattr(os, "posix_fallocate"):
        return
    with open(path, "r+b") as fh:
        size = os.fstat(fh.fileno()).st_size
        try:
            os.posix_fallocate(fh.fileno(), 0, size)
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise OSError(err.errno, f"no space left on the device for '{name or Path(path).name}' "
                                         f"({size / 2**20:.0f} MB)") from None


def _short(name, most=100):
    """``name`` cut to ``most`` characters for a temporary name beside it (a name of 255 bytes, the most a file
    system takes, plus ".tmp-XXXXXXXX" was "File name too long")."""
    return name[:most]


@contextlib.contextmanager
def atomic_folder(target, *, replace=None, files=False):
    """Yield a fresh temporary folder next to ``target``; on success it becomes ``target``.

    Parameters
    ----------
    target : str or Path
    replace : callable, optional
        ``replace(path) -> bool``: whether an existing folder at ``target`` may be
        replaced (default: only an empty folder). Otherwise an existing ``target`` is
        an error and is left untouched.
    files : bool
        An existing file or symbolic link at ``target`` (never what a link points to) is replaced too, once the
        folder is complete: a write that fails leaves it as it was.
    """
    target = Path(target)
    if not (files and (target.is_symlink() or target.is_file())):
        check_folder_target(target, replace)
    _check_parent(target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{_short(target.name)}.tmp-", dir=target.parent))
    except OSError as err:
        raise cannot_write(target, err) from None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if files and (target.is_symlink() or target.is_file()):
            target.unlink()  # the link itself, or the file
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{_short(target.name)}.old-", dir=target.parent))
            os.rename(target, old / "x")
            os.rename(tmp, target)
            _remove(old)
        else:
            os.rename(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


def check_folder_target(target, replace=None):
    """Raise FileExistsError unless :func:`atomic_folder` may write ``target`` (checked before a
    long computation, so that it does not fail at the end)."""
    target = Path(target)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise FileExistsError(f"'{target.name}' exists and is not a folder; choose another output.")
    if target.is_dir() and any(target.iterdir()) and not (replace and replace(target)):
        raise FileExistsError(f"'{target.name}' is a folder that holds other files; choose another "
                              "output (only the folder of an earlier result is replaced).")
    check_writable(target)  # a read-only folder was said after the whole run


def is_result_folder(names):
    """``replace`` for :func:`atomic_folder`: a folder holding only files named in ``names``."""
    names = set(names)

    def check(folder: Path) -> bool:
        entries = list(folder.iterdir())
        return all(p.name in names and p.is_file() and not p.is_symlink() for p in entries)

    return check


def _umask():
    """The process umask, read without changing it (os.umask would, for every thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _remove(p: Path):
    with contextlib.suppress(FileNotFoundError):
        if p.is_symlink() or p.is_file():
            p.unlink()
        elif p.is_dir():
            shutil.rmtree(p)
