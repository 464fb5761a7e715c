"""Unpack an uploaded zip (a Ray Tune, Keras Tuner or mlruns directory) without trusting it.

Every member is checked before anything is written: no absolute path, drive letter
or ``..`` part, no symbolic link, at most ``max_members`` members and at most
``max_bytes`` unpacked in all, and no member that inflates more than
``MAX_RATIO`` times (a zip bomb). While writing, the bytes actually inflated are
counted as well, since the sizes a zip declares can lie. macOS's ``__MACOSX/``
resource forks are skipped. A refusal is an :class:`core.errors.InputError` whose
message is one line naming the archive.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from core.errors import InputError

MAX_RATIO = 1000
"""A member that inflates more than this many times its compressed size is refused (real CSVs: 3-30x)."""
_RATIO_FLOOR = 1 << 20  # small members may compress well (a file of zeros); the ratio matters above 1 MiB
_CHUNK = 1 << 16


def extract_zip(archive: Path, dest: Path, *, name: str, max_bytes: int, max_members: int = 20_000) -> Path:
    """Unpack ``archive`` into ``dest`` (created) and return what to read.

    Parameters
    ----------
    archive : Path
        The uploaded zip file.
    dest : Path
        An empty directory's path; nothing is written outside it.
    name : str
        The name the user knows the archive by (used in messages).
    max_bytes : int
        The most the members may unpack to, in all.
    max_members : int
        The most members (files and folders) accepted.

    Returns
    -------
    Path
        ``dest``, or the one folder (or file) it holds, descending while a folder
        holds exactly one folder: zipping ``ray_results/exp/`` gives ``exp``.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            members = _checked_members(zf, name, max_bytes, max_members)
            dest.mkdir(parents=True, exist_ok=False)
            written = 0
            for info, parts in members:
                target = dest.joinpath(*parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                written += _copy_member(zf, info, target, name, max_bytes - written)
    except zipfile.BadZipFile as exc:
        raise InputError(f"{name}: not a readable zip file ({exc})") from None
    except RuntimeError as exc:  # encrypted members
        raise InputError(f"{name}: {exc}") from None
    return _single_entry(dest)


def _checked_members(zf: zipfile.ZipFile, name: str, max_bytes: int,
                     max_members: int) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    infos = zf.infolist()
    if len(infos) > max_members:
        raise InputError(f"{name}: refused, the zip holds {len(infos)} members (the limit is {max_members})")
    members = []
    total = 0
    for info in infos:
        raw = info.filename.replace("\\", "/")
        parts = tuple(p for p in PurePosixPath(raw).parts if p not in ("", "."))
        if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":") or ".." in parts:
            raise InputError(f"{name}: refused, the member {info.filename!r} points outside the archive")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InputError(f"{name}: refused, the member {info.filename!r} is a symbolic link")
        if not parts or parts[0] == "__MACOSX":
            continue
        total += info.file_size
        if total > max_bytes:
            raise InputError(f"{name}: refused, it unpacks to more than {_mb(max_bytes)} (the unpacked size limit)")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_FLOOR and ratio > MAX_RATIO:
            raise InputError(f"{name}: refused, the member {info.filename!r} inflates {ratio:.0f} times (a zip bomb?)")
        members.append((info, parts))
    return members


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, name: str, budget: int) -> int:
    """Write one member, counting what really inflates; returns the bytes written."""
    limit = min(info.file_size, budget)
    written = 0
    with zf.open(info) as src, open(target, "xb") as out:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise InputError(f"{name}: refused, the member {info.filename!r} inflates beyond its declared size")
            out.write(chunk)
    return written


def _single_entry(dest: Path) -> Path:
    path = dest
    while True:
        entries = list(path.iterdir())
        if len(entries) != 1:
            return path
        if entries[0].is_file():
            return entries[0]
        path = entries[0]


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"
