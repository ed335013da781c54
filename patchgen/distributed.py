"""Data parallelism over the processes torchrun starts (`torchrun --nproc_per_node N -m patchgen train ...`).

Every rank holds the same artifact and optimizer; each draws its own share of the global batch (its own shard of
the images, its own generator) and the artifact's gradients (a gradient-free optimiser: its candidates' scores,
patchgen/objective.py) are averaged over ranks before the optimizer step, so N ranks take the step one process
would take on the union of their batches. Rank 0 alone writes the run folder; each rank of a query run keeps its
own query log. A plain `patchgen train` is a world of one, where every collective is a no-op."""

import atexit
import os
from contextlib import contextmanager
from functools import cache

import torch
import torch.distributed as dist

from patchgen.errors import UserError

RANK_SEED_STRIDE = 1_000_003  # rank r's generator: seed + r * this (rank 0 keeps the run's own seed)


class World:
    def __init__(self, rank: int = 0, size: int = 1, local_rank: int = 0):
        self.rank, self.size, self.local_rank = rank, size, local_rank

    @property
    def main(self) -> bool:
        return self.rank == 0

    def place(self, device: torch.device) -> torch.device:
        """One GPU per rank on its node: torchrun's LOCAL_RANK picks it."""
        if self.size == 1 or device.type != "cuda":
            return device
        if self.local_rank >= torch.cuda.device_count():
            raise UserError(f"rank {self.rank} wants GPU {self.local_rank}, but this node has "
                            f"{torch.cuda.device_count()}: --nproc_per_node at most the GPUs per node")
        torch.cuda.set_device(self.local_rank)
        return torch.device("cuda", self.local_rank)

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    @contextmanager
    def main_first(self):
        """Rank 0 runs the block before the others (it fills caches, e.g. pseudo-labels, that they then read)."""
        if not self.main:
            self.barrier()
        yield
        if self.main:
            self.barrier()

    def average_gradients(self, parameters) -> None:
        if self.size == 1:
            return
        for p in parameters:
            if p.grad is not None:
                dist.all_reduce(p.grad)  # SUM: AVG is NCCL-only
                p.grad.div_(self.size)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        if self.size == 1:
            return value
        value = value.detach().clone()
        dist.all_reduce(value)
        return value / self.size

    def all(self, flag: torch.Tensor) -> torch.Tensor:
        """True on every rank only if it is true on every rank (so all ranks stop together)."""
        if self.size == 1:
            return flag
        flag = flag.to(torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return flag.bool()

    def gather(self, state: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's copy of a small CPU tensor (generator states, for rank 0's checkpoint)."""
        if self.size == 1:
            return [state]
        states = [None] * self.size
        dist.all_gather_object(states, state)
        return states


@cache
def world() -> World:
    """This process's World, from torchrun's environment; the process group is set up on first use."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    # gloo for CPU tensors, NCCL for GPU ones: one group serves both
    dist.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
    atexit.register(dist.destroy_process_group)
    return World(rank, size, local_rank)


def rank_seed(seed: int, rank: int) -> int:
    return seed + rank * RANK_SEED_STRIDE
