"""A query-only victim's class names from a text file: one name per line, line i naming class index i as the model
outputs it (a TF Object Detection API model's line 0 is its background class)."""

from pathlib import Path

from patchgen.errors import UserError, require_file


def read_names(path: str, key: str) -> list[str]:
    """The names in `path` (trailing blank lines dropped); `key` is the config key that named the file."""
    try:
        lines = require_file(Path(path).expanduser(), f"{key} file").read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"{key}: {path} is not UTF-8 text: write the class names one per line") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise UserError(f"{key}: {path} holds no class names; write one per line, line i naming class i")
    names = [line.strip() for line in lines]
    if "" in names:
        raise UserError(f"{key}: {path}:{names.index('') + 1} is empty; every class id up to the last needs a name "
                        "(a placeholder where the model has none)")
    return names


def check_count(names: list[str], classes: int, source: str, victim: str, key: str) -> list[str]:
    """`names` if they are one per class of the model's output; else one line saying which disagrees."""
    if len(names) != classes:
        raise UserError(f"{source} gives {len(names)} class names but {victim} outputs {classes} classes; "
                        f"give {key} a file with {classes} names, one per line")
    return names
