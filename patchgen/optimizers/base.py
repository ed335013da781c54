"""What every optimiser gives the trainer, and the schedule they share.

An optimiser is built from its settings (the config's `optimizer.NAME` section, a dataclass in its own file) and
the run's `Objective` (patchgen/objective.py), and is asked for one step at a time:
- `step(objective, step, steps)` -> (total, {term: value}): what it measured this step, for the log. A gradient
  optimiser backpropagates `objective.loss(draw)`; the others score candidate artifacts with `objective.losses`.
- `state_dict()` / `load_state_dict(tensors)`: everything it carries between steps, as named CPU tensors for the
  checkpoint (so a resumed run continues bit for bit);
- `log()` -> extra columns for the metrics row (a learning rate, a search's square size).
Work over torchrun processes is combined inside the objective (gradients or candidate losses averaged over ranks),
so every rank takes the same decision. Module level stays torch-free: the config reads the settings first."""

import math


def cosine_lr(step: int, steps: int, lr: float, final: float) -> float:
    """lr at `step` of `steps`, falling on a half cosine from lr to lr x final."""
    return lr * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * step / max(1, steps))))


class Optimizer:
    def __init__(self, settings, objective, seed: int):
        self.settings = settings

    def step(self, objective, step: int, steps: int):
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, tensors: dict) -> None:
        """Nothing to restore unless a kind carries state."""

    def log(self) -> dict:
        return {}


def candidate_generator(seed: int):
    """The stream candidates are drawn from: one CPU generator, seeded alike on every rank (the EOT draws differ
    per rank; the candidates every rank scores must not)."""
    import torch

    return torch.Generator().manual_seed(seed)
