"""Weights files for classifiers: read one safely (tensors only, nothing unpickled runs) and load it into a
freshly built architecture, with one line saying how it does not fit when it does not."""

from pathlib import Path

import torch

from patchgen.errors import UserError, require_file

STATE_DICT_KEYS = ("state_dict", "model")  # what training scripts wrap the state dict in
DATA_PARALLEL_PREFIX = "module."  # every key of a file saved from nn.DataParallel


def describe_checkpoint(checkpoint) -> str:
    """A few words on what a weights-only file holds, for the message that it is not what was expected."""
    if not isinstance(checkpoint, dict):
        return f"a {type(checkpoint).__name__}"
    if not checkpoint:
        return "an empty dict"
    if all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return f"a state dict ({len(checkpoint)} tensors, the first {next(iter(checkpoint))!r})"
    return "a dict of " + ", ".join(repr(k) for k in list(checkpoint)[:4])


def read_state_dict(path, name: str) -> dict[str, torch.Tensor]:
    """The tensors of a plain state dict, or of one under 'state_dict'/'model', 'module.' prefixes stripped."""
    path = require_file(Path(path).expanduser(), f"{name}: weights file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        raise UserError(f"{name}: {path} is not a weights file ({_why_unreadable(path)})") from None
    if isinstance(checkpoint, dict):
        wrapped = next((checkpoint[k] for k in STATE_DICT_KEYS if isinstance(checkpoint.get(k), dict)), None)
        state = checkpoint if wrapped is None else wrapped
        if state and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            return {k.removeprefix(DATA_PARALLEL_PREFIX): v for k, v in state.items()}
    raise UserError(f"{name}: {path} holds {describe_checkpoint(checkpoint)}, not a state dict of tensors")


def _why_unreadable(path: Path) -> str:
    try:
        classes = torch.serialization.get_unsafe_globals_in_checkpoint(path)  # reads the names, runs nothing
    except Exception:
        return "empty, truncated or another kind of file"
    shown = ", ".join(classes[:2]) or "objects PyTorch cannot read safely"
    return f"it holds pickled {shown}; save model.state_dict() instead"


def load_fitting(model: torch.nn.Module, state: dict[str, torch.Tensor], name: str, architecture: str):
    """Load `state` into `model` strictly, or one UserError counting what does not fit."""
    own = model.state_dict()
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    # torch's own key rules decide missing/unexpected (a file older than BatchNorm's num_batches_tracked fits)
    result = model.load_state_dict({k: v for k, v in state.items() if k not in mismatched}, strict=False)
    missing = [k for k in result.missing_keys if k not in mismatched]
    unexpected = result.unexpected_keys
    if not (mismatched or missing or unexpected):
        return model
    parts = [f"{len(missing)} missing keys" + (f" (first {missing[0]!r})" if missing else ""),
             f"{len(unexpected)} unexpected" + (f" (first {unexpected[0]!r})" if unexpected else "")]
    if mismatched:
        key = mismatched[0]
        parts.append(f"first shape mismatch {key} ({_shape(state[key])} in the file vs {_shape(own[key])})")
    raise UserError(f"{name}: the weights file does not fit {architecture}: {', '.join(parts)}")


def _shape(tensor: torch.Tensor) -> str:
    return "x".join(map(str, tensor.shape)) or "scalar"
