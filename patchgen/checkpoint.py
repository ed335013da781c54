"""Training checkpoints as safetensors (no pickle): the artifact, Adam's moments and the generators' states (one
per data-parallel rank: "generator" is rank 0's, "generator.R" rank R's), so a resumed run continues exactly
where the killed one stopped."""

from pathlib import Path

import torch
from safetensors.torch import save_file

from patchgen.atomic import atomic_save
from patchgen.errors import UserError
from patchgen.run_dir import CHECKPOINT
from patchgen.tensor_file import read_tensors


def save_checkpoint(run_dir, step: int, artifact, optimizer, generator_states: list[torch.Tensor]) -> Path:
    tensors = {"artifact." + k: v.detach().cpu().contiguous() for k, v in artifact.state_dict().items()}
    for i, param in enumerate(optimizer.param_groups[0]["params"]):
        for name, value in optimizer.state.get(param, {}).items():
            tensors[f"adam.{i}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    for rank, state in enumerate(generator_states):
        tensors[_generator_key(rank)] = state.cpu()
    path = Path(run_dir) / CHECKPOINT
    metadata = {"step": str(step), "ranks": str(len(generator_states))}
    return atomic_save(path, lambda tmp: save_file(tensors, tmp, metadata))


def _generator_key(rank: int) -> str:
    return f"generator.{rank}" if rank else "generator"


def load_checkpoint(run_dir, artifact, optimizer, generator, rank: int = 0, ranks: int = 1) -> int:
    """Restore everything in place (rank `rank` of `ranks`: its own generator); returns the number of steps
    already done. A truncated or foreign file, or one written by another number of ranks, is one UserError naming
    it (the caller has written nothing yet)."""
    path = Path(run_dir) / CHECKPOINT
    tensors, metadata = read_tensors(path, "checkpoint", ("step", "generator"))
    try:
        artifact.load_state_dict({k[len("artifact.") :]: v for k, v in tensors.items() if k.startswith("artifact.")})
    except RuntimeError as err:  # missing keys or another artifact size
        reason = str(err).splitlines()[-1].strip()
        raise UserError(f"checkpoint {path} does not fit this run's artifact: {reason}") from None
    device = next(artifact.parameters()).device
    for i, param in enumerate(optimizer.param_groups[0]["params"]):
        state = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"adam.{i}.")}
        if state:
            optimizer.state[param] = {k: (v if k == "step" else v.to(device)) for k, v in state.items()}
    saved_ranks = int(metadata.get("ranks", "1"))
    if saved_ranks != ranks:
        raise UserError(f"checkpoint {path} was written by {saved_ranks} training process(es), this resume runs "
                        f"{ranks}: resume with the same torchrun --nproc_per_node x --nnodes (each keeps its own "
                        f"random stream)")
    generator.set_state(tensors[_generator_key(rank)])
    return int(metadata["step"])
