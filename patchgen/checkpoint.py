"""Training checkpoints as safetensors (no pickle): the artifact, the optimiser's state ("optimizer.*": Adam's
moments, a search's population and its candidate stream) and the generators' states (one per data-parallel rank:
"generator" is rank 0's, "generator.R" rank R's) and, in a query run, the queries each rank had spent ("queries",
"queries.R"), so a resumed run continues exactly where the killed one stopped."""

from pathlib import Path

import torch
from safetensors.torch import save_file

from patchgen.atomic import atomic_save
from patchgen.errors import UserError
from patchgen.run_dir import CHECKPOINT
from patchgen.tensor_file import read_tensors


def save_checkpoint(run_dir, step: int, artifact, optimizer, generator_states: list[torch.Tensor],
                    queries: list[torch.Tensor] = ()) -> Path:
    tensors = {"artifact." + k: v.detach().cpu().contiguous() for k, v in artifact.state_dict().items()}
    for name, value in optimizer.state_dict().items():
        tensors["optimizer." + name] = torch.as_tensor(value).detach().cpu().contiguous()
    for rank, state in enumerate(generator_states):
        tensors[_generator_key(rank)] = state.cpu()
    for rank, spent in enumerate(queries):
        tensors[_per_rank("queries", rank)] = torch.as_tensor(spent).cpu()
    path = Path(run_dir) / CHECKPOINT
    metadata = {"step": str(step), "ranks": str(len(generator_states))}
    return atomic_save(path, lambda tmp: save_file(tensors, tmp, metadata))


def _per_rank(name: str, rank: int) -> str:
    return f"{name}.{rank}" if rank else name


def _generator_key(rank: int) -> str:
    return _per_rank("generator", rank)


def load_checkpoint(run_dir, artifact, optimizer, generator, rank: int = 0, ranks: int = 1, account=None) -> int:
    """Restore everything in place (rank `rank` of `ranks`: its own generator; a query run's account: the queries
    spent by the checkpoint's step); returns the number of steps already done. A truncated or foreign file, or one
    written by another number of ranks, is one UserError naming it (the caller has written nothing yet)."""
    path = Path(run_dir) / CHECKPOINT
    tensors, metadata = read_tensors(path, "checkpoint", ("step", "generator"))
    try:
        artifact.load_state_dict({k[len("artifact.") :]: v for k, v in tensors.items() if k.startswith("artifact.")})
    except RuntimeError as err:  # missing keys or another artifact size
        reason = str(err).splitlines()[-1].strip()
        raise UserError(f"checkpoint {path} does not fit this run's artifact: {reason}") from None
    optimizer.load_state_dict({k[len("optimizer."):]: v for k, v in tensors.items() if k.startswith("optimizer.")})
    saved_ranks = int(metadata.get("ranks", "1"))
    if saved_ranks != ranks:
        raise UserError(f"checkpoint {path} was written by {saved_ranks} training process(es), this resume runs "
                        f"{ranks}: resume with the same torchrun --nproc_per_node x --nnodes (each keeps its own "
                        f"random stream)")
    generator.set_state(tensors[_generator_key(rank)])
    if account is not None:
        account.resume_at(int(tensors.get(_per_rank("queries", rank), torch.tensor(account.spent))))
    return int(metadata["step"])
