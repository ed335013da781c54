"""Reading a safetensors file the run wrote (checkpoint, patch): a truncated, empty or foreign file is one line
naming it, not a traceback from the Rust reader."""

from safetensors import SafetensorError, safe_open

from patchgen.errors import UserError, require_file


def read_tensors(path, what: str, keys=()) -> tuple[dict, dict]:
    """(tensors, metadata) from `path`; `keys` must all be present. `what` names the file for the user."""
    path = require_file(path, what)
    try:
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except SafetensorError as err:
        raise UserError(f"{what} {path} is unreadable (truncated or not a safetensors file: {err})") from None
    missing = [key for key in keys if key not in tensors and key not in metadata]
    if missing:
        raise UserError(f"{what} {path} is not one patchgen wrote (no {', '.join(missing)})")
    return tensors, metadata
