"""Unpacking an uploaded zip: what to read, and every way out of the folder refused before anything is written."""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

import pytest

from core.errors import InputError
from graph.safe_unzip import extract_zip

MB = 1_000_000


def _zip(path: Path, members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_one_folder_is_descended_into_and_macos_forks_are_skipped(tmp_path):
    archive = _zip(tmp_path / "exp.zip", {"ray/exp/experiment_state-1.json": b"{}", "ray/exp/t1/params.json": b"{}",
                                          "__MACOSX/ray/._exp": b"junk"})
    found = extract_zip(archive, tmp_path / "out", name="exp.zip", max_bytes=MB)
    assert found == tmp_path / "out" / "ray" / "exp"
    assert sorted(p.name for p in found.iterdir()) == ["experiment_state-1.json", "t1"]
    assert not (tmp_path / "out" / "__MACOSX").exists()


def test_a_single_file_is_what_is_read(tmp_path):
    archive = _zip(tmp_path / "r.zip", {"results.csv": b"trial_id,loss\n1,0.5\n"})
    assert extract_zip(archive, tmp_path / "out", name="r.zip", max_bytes=MB) == tmp_path / "out" / "results.csv"


@pytest.mark.parametrize(("member", "why"), [
    ("../escaped.csv", "points outside the archive"),
    ("a/../../escaped.csv", "points outside the archive"),
    ("/abs/escaped.csv", "points outside the archive"),
    ("C:/escaped.csv", "points outside the archive"),
    ("..\\escaped.csv", "points outside the archive"),
])
def test_members_pointing_outside_are_refused_before_anything_is_written(tmp_path, member, why):
    archive = _zip(tmp_path / "bad.zip", {"ok.csv": b"trial_id,loss\n1,0.5\n", member: b"x"})
    with pytest.raises(InputError, match=f"^bad.zip: refused, the member .* {why}$"):
        extract_zip(archive, tmp_path / "out", name="bad.zip", max_bytes=MB)
    assert not (tmp_path / "out").exists() and not (tmp_path / "escaped.csv").exists()


def test_symbolic_links_are_refused(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("exp/link")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(InputError, match="is a symbolic link"):
        extract_zip(archive, tmp_path / "out", name="link.zip", max_bytes=MB)


def test_bombs_are_refused_by_total_size_and_by_ratio(tmp_path):
    noise = random.Random(0).randbytes(3 * MB)  # incompressible: only the total size can refuse it
    big = _zip(tmp_path / "big.zip", {f"p{i}.csv": noise for i in range(3)})
    with pytest.raises(InputError, match=r"^big.zip: refused, it unpacks to more than 5 MB"):
        extract_zip(big, tmp_path / "out1", name="big.zip", max_bytes=5 * MB)
    dense = _zip(tmp_path / "dense.zip", {"zeros.csv": b"\0" * (20 * MB)})
    with pytest.raises(InputError, match=r"inflates \d+ times \(a zip bomb\?\)"):
        extract_zip(dense, tmp_path / "out2", name="dense.zip", max_bytes=100 * MB)


def test_a_member_larger_than_it_declares_is_stopped(tmp_path):
    archive = _zip(tmp_path / "liar.zip", {"a.csv": b"1" * 5000}, compression=zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    # lower the declared size (4 bytes at offset 22 of the local header, 24 of the central one) to 10
    central = data.rindex(b"PK\x01\x02")
    data[22:26] = (10).to_bytes(4, "little")
    data[central + 24:central + 28] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    with pytest.raises(InputError):
        extract_zip(archive, tmp_path / "out", name="liar.zip", max_bytes=MB)


def test_too_many_members_and_non_zips_are_one_line_errors(tmp_path):
    many = _zip(tmp_path / "many.zip", {f"f{i}.csv": b"x" for i in range(30)})
    with pytest.raises(InputError, match="holds 30 members"):
        extract_zip(many, tmp_path / "out", name="many.zip", max_bytes=MB, max_members=20)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(InputError, match="^broken.zip: not a readable zip file"):
        extract_zip(broken, tmp_path / "out2", name="broken.zip", max_bytes=MB)
