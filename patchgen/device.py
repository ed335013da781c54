"""Which device a command runs on: one home for reading `auto`, `cpu`, `cuda`, `cuda:N` (a flag or train.device)."""

import torch

from patchgen.errors import UserError


def resolve_device(name: str = "auto", key: str = "--device") -> torch.device:
    """key: how the user chose it, so the message names that: a flag (`--device`) or a config key (train.device)."""
    setting = f"{key} cpu" if key.startswith("--") else f"--set {key}=cpu (or `device: cpu` under train:)"
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"{key} {name!r} asks for a CUDA GPU, but torch sees none on this machine: use {setting}, "
                        f"or auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"{key} {name!r} is not a device: use auto, cpu, cuda or cuda:N") from None
