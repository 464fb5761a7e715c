"""The files of one report written as one unit: staged privately, then swapped in together.

This is the one place that writes output files. A run writes its whole output set
(report, JSON summary, HTML page, pictures folder) into a private directory next to the
target, ``DIR/.hparam-output-tmp-<pid>-<random>``, so a crash, a full disk or a picture
that fails to draw leaves the previous set as it was. :meth:`OutputSet.commit` then
swaps every name of the set into ``DIR`` while holding an exclusive ``flock`` on ``DIR``
itself (no lock file is left behind), so parallel runs into one ``--out`` take turns and
never leave one run's report beside another's pictures; names of the set that this run
did not produce (an HTML page of an earlier run, old pictures) are removed in the same
step. Each name is replaced in one atomic step, never removed first and put back after:
a file by ``rename``, the pictures folder by exchanging it with the staged one
(``renameat2(RENAME_EXCHANGE)``; a file system without it falls back to two renames), so
a reader never finds a name of the set missing. Staging directories left by a killed run
are removed by the next run into the same directory.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

STAGING_PREFIX = ".hparam-output-tmp-"
_STAGED = re.compile(rf"^{re.escape(STAGING_PREFIX)}(\d+)-")
LOCK_WAIT = 120.0
"""Seconds to wait for another run to finish swapping its set into the same directory."""


class OutputBusy(OSError):
    """Another run held the output directory for longer than :data:`LOCK_WAIT`."""


class OutputSet:
    """Stage files in :attr:`path`, then :meth:`commit` them into ``out_dir`` at once.

    ``names`` are the file and folder names the set owns in ``out_dir``; a folder is
    replaced whole unless it holds files the set does not know (``folder_globs``
    patterns decide what counts as ours), in which case only ours are replaced.
    """

    def __init__(self, out_dir: Path, names: tuple[str, ...], folder_globs: Mapping[str, tuple[str, ...]] | None = None
                 ) -> None:
        """Remember where the set goes; nothing is created until ``with``."""
        self.out_dir = out_dir
        self.names = names
        self.folder_globs = dict(folder_globs or {})
        self.path = out_dir

    def __enter__(self) -> OutputSet:
        """Remove stale staging directories of dead runs and create this run's."""
        _remove_stale(self.out_dir)
        self.path = Path(tempfile.mkdtemp(dir=self.out_dir, prefix=f"{STAGING_PREFIX}{os.getpid()}-"))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """The staging directory goes, committed or not."""
        shutil.rmtree(self.path, ignore_errors=True)

    def write(self, name: str, data: str | bytes) -> None:
        """Stage one file of the set (text as UTF-8); ``name`` may be inside a folder of the set (``folder/x.png``)."""
        target = self.path / name
        if target.parent != self.path:
            target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        _usual_mode(target)

    def commit(self) -> None:
        """Swap the staged set into ``out_dir``, under an exclusive lock on the directory."""
        with _locked(self.out_dir):
            for name in self.names:
                self._swap(name)

    def _swap(self, name: str) -> None:
        new, old = self.path / name, self.out_dir / name
        globs = self.folder_globs.get(name)
        if globs is not None and old.is_dir() and not old.is_symlink() and _foreign(old, globs):
            # a folder the user also keeps files in: our pictures replaced one by one, the others stay
            produced = {item.name for item in new.iterdir()} if new.is_dir() else set()
            for item in produced:
                os.replace(new / item, old / item)
            for pattern in globs:
                for stale in old.glob(pattern):
                    if stale.name not in produced:
                        stale.unlink(missing_ok=True)
            return
        if not new.exists():
            _remove(old)
        elif not (old.exists() or old.is_symlink()):
            os.rename(new, old)
        elif not new.is_dir() and not (old.is_dir() and not old.is_symlink()):
            os.replace(new, old)  # a file over a file: one atomic step
        elif not _exchange(new, old):  # the previous folder goes where the new one was, and with the staging directory
            os.replace(old, self.path / f".old-{name}")
            os.replace(new, old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _foreign(folder: Path, globs: tuple[str, ...]) -> bool:
    ours = {p for pattern in globs for p in folder.glob(pattern)}
    return any(item not in ours for item in folder.iterdir())


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
try:
    _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
except (OSError, AttributeError):  # not glibc/Linux
    _renameat2 = None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2``); False where the system cannot."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


class _locked:
    """An exclusive ``flock`` on a directory, waited for up to :data:`LOCK_WAIT` seconds."""

    def __init__(self, directory: Path) -> None:
        self.fd = os.open(directory, os.O_RDONLY)

    def __enter__(self) -> None:
        give_up = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > give_up:
                    os.close(self.fd)
                    raise OutputBusy(f"another run kept the output directory locked for {LOCK_WAIT:g} s") from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _remove_stale(out_dir: Path) -> None:
    """Staging directories whose run is gone (killed mid-write)."""
    try:
        entries = list(out_dir.iterdir())
    except OSError:
        return
    for entry in entries:
        match = _STAGED.match(entry.name)
        if match and entry.is_dir() and not _alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _usual_mode(path: Path) -> None:
    """The permissions a plain ``open`` would give (the staging directory is private)."""
    os.chmod(path, 0o666 & ~_umask())
