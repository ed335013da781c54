"""The one exception type for user mistakes: the CLI prints its message as one line and exits non-zero."""

from pathlib import Path


class UserError(Exception):
    """Bad input from the user (a missing file, an unknown model, a wrong config key...)."""


def require_file(path, what: str = "file") -> Path:
    """`path` as a Path if it is an existing file; otherwise one UserError that says what is wrong with it
    (missing, or a folder where a file is expected). `what` names it for the user: "config", "checkpoint"..."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder, not a file")
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    return path


def require_folder(path, what: str = "folder") -> Path:
    """`path` as a Path if it is an existing folder; otherwise one UserError (missing, or a file given)."""
    path = Path(path)
    if path.is_file():
        raise UserError(f"{what} {path} is a file, not a folder")
    if not path.is_dir():
        raise UserError(f"{what} not found: {path}")
    return path
