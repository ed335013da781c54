"""One writer per run folder: `with run_lock(run_dir):` around anything that writes into it (train, resume, demo,
eval into RUN/eval). Two writers would interleave metrics.jsonl and overwrite each other's files.

The lock is filelock's (flock on RUN/.lock on Unix, LockFileEx on Windows), so it dies with its process: a
SIGKILLed run leaves no stale lock in the way of --resume. The file itself stays on Unix and holds the pid of its
last holder, for the message. Re-entrant within one process: `patchgen train` holds it over training and the
evaluation after it, and train() takes it again inside."""

import os
from contextlib import contextmanager
from pathlib import Path

from patchgen.errors import UserError

LOCK = ".lock"
_held: dict[Path, int] = {}  # run folder -> depth, for the re-entrant case


def _write_pid(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def _file_lock(run_dir: Path, on_acquired=None):
    from filelock import FileLock

    # blocking=False: a held lock raises filelock.Timeout at once
    return FileLock(run_dir / LOCK, blocking=False, on_acquired=on_acquired)


def _pid(run_dir: Path) -> str:
    """The pid written by the lock's holder; "" where it cannot be read (Windows refuses other processes the
    locked byte, so there the message goes without it)."""
    try:
        return (run_dir / LOCK).read_text(errors="replace").strip()
    except OSError:
        return ""


@contextmanager
def run_lock(run_dir):
    from filelock import Timeout

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
    lock = _file_lock(run_dir, on_acquired=_write_pid)
    try:
        lock.acquire()
    except Timeout:
        pid = _pid(run_dir)
        raise UserError(f"{run_dir} is in use by another patchgen process{f' (pid {pid})' if pid else ''}: "
                        f"wait for it to end, or choose another folder") from None
    _held[run_dir] = 1
    try:
        yield run_dir
    finally:
        del _held[run_dir]
        lock.release()
        if created and set(os.listdir(run_dir)) <= {LOCK}:  # failed before writing anything: leave no empty run
            (run_dir / LOCK).unlink(missing_ok=True)
            run_dir.rmdir()


def holder(run_dir) -> str | None:
    """The pid holding the run folder's lock now (a run still training), else None. Asked without creating or
    keeping anything: the lock is tried and, if free, let go at once. filelock's locks are exclusive only (the
    fcntl version took a shared one here), so this probe holds the lock for about 0.25 ms (measured, acquire and
    release): a writer starting in that instant is refused with the one-line 'in use' message and can be run
    again."""
    from filelock import Timeout

    run_dir = Path(run_dir).absolute()
    if run_dir in _held:
        return str(os.getpid())
    if not (run_dir / LOCK).is_file():
        return None
    lock = _file_lock(run_dir)
    try:
        lock.acquire()
    except Timeout:
        return _pid(run_dir) or "unknown"
    lock.release()
    return None
