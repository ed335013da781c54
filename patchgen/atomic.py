"""Atomic file writes: a reader (or a kill) never sees half a file, and a failed write keeps the old one."""

import json
import os
import tempfile
from pathlib import Path


def _default_mode() -> int:
    """What a plain open() would give (0644 under the usual umask): mkstemp's 0600 would hide PDFs and PNGs
    from print shops and web servers."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_save(path, writer) -> Path:
    """`writer(tmp_path)` writes the file (PIL, matplotlib, safetensors...); it replaces `path` only whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        writer(tmp)
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path, data: bytes) -> Path:
    def write(tmp):
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    return atomic_save(path, write)


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2) + "\n")
