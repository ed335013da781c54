"""One writer per run folder: `with run_lock(run_dir):` around anything that writes into it (train, resume, demo,
eval into RUN/eval). Two writers would interleave metrics.jsonl and overwrite each other's files.

The lock is the kernel's (flock on RUN/.lock), so it dies with its process: a SIGKILLed run leaves no stale
lock in the way of --resume. The file itself stays (deleting a flock'ed file races with the next opener) and
holds the pid of its last holder, for the message. Re-entrant within one process: `patchgen train` holds it
over training and the evaluation after it, and train() takes it again inside."""

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from patchgen.errors import UserError

LOCK = ".lock"
_held: dict[Path, int] = {}  # run folder -> depth, for the re-entrant case


@contextmanager
def run_lock(run_dir):
    run_dir = Path(run_dir).absolute()
    if run_dir in _held:
        _held[run_dir] += 1
        try:
            yield run_dir
        finally:
            _held[run_dir] -= 1
        return
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        raise UserError(f"{run_dir} is in use by another patchgen process{f' (pid {holder})' if holder else ''}: "
                        f"wait for it to end, or choose another folder") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[run_dir] = 1
    try:
        yield run_dir
    finally:
        del _held[run_dir]
        if created and os.listdir(run_dir) == [LOCK]:  # failed before writing anything: leave no empty run
            os.unlink(run_dir / LOCK)
            os.rmdir(run_dir)
        os.close(fd)


def holder(run_dir) -> str | None:
    """The pid holding the run folder's lock now (a run still training), else None. Asked without creating or
    keeping anything: the lock is tried and, if free, let go at once."""
    path = Path(run_dir).absolute() / LOCK
    if Path(run_dir).absolute() in _held:
        return str(os.getpid())
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.read(fd, 32).decode(errors="replace").strip() or "unknown"
    finally:
        os.close(fd)  # closing lets go of a shared lock taken here
    return None
