import os

import pytest

from patchgen.atomic import atomic_save, atomic_write_text


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "report.json"
    atomic_write_text(target, "old")

    def broken_writer(tmp):
        open(tmp, "w").write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_save(target, broken_writer)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.json"]


def test_files_get_ordinary_permissions(tmp_path):
    path = atomic_write_text(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
