"""Optimiser `random_search`: Square Attack (Andriushchenko et al. 2020) and Sparse-RS (Croce et al. 2022) for
artifacts. Each step proposes `population` changes of the current artifact, scores them and the unchanged artifact
on the same draw, and keeps the best if it beats the unchanged one. What a change is, the artifact says
(`Artifact.propose`): for images, a square of its content set to an extreme colour (a corner of the colour cube, in
parameter units: +-bound); for k pixels, some of them moved to fresh places with corner colours. The changes'
share of the artifact shrinks over the run."""

from dataclasses import dataclass

from patchgen.optimizers.base import Optimizer, candidate_generator
from patchgen.ranges import number


@dataclass
class Settings:
    population: int = number(4, 1, 10_000)  # candidates per step, each scored on the step's batch
    p_init: float = number(0.1, 0, 1, open_low=True)  # the first squares' share of the artifact's area
    p_final: float = number(0.005, 0, 1, open_low=True)  # the last squares' share (the share falls geometrically)


class RandomSearch(Optimizer):
    def __init__(self, settings: Settings, objective, seed: int):
        super().__init__(settings, objective, seed)
        self.generator = candidate_generator(seed)
        self.share = settings.p_init
        self.accepted = 0

    def step(self, objective, step, steps):
        s = self.settings
        self.share = s.p_init * (s.p_final / s.p_init) ** (step / max(1, steps - 1))
        centre = objective.vector()
        candidates = centre.repeat(s.population + 1, 1)  # row 0: the artifact as it is
        for row in candidates[1:]:
            objective.propose(row, self.share, self.generator)
        losses = objective.losses(objective.draw(), candidates, until_success=True)
        best = objective.succeeded_at if objective.succeeded_at is not None else int(losses.argmin())
        if best:
            objective.assign(candidates[best])
            self.accepted += 1
        return losses[best], {"adversarial": losses[best]}

    def log(self):
        return {"square_share": self.share, "accepted": self.accepted}

    def state_dict(self):
        import torch

        return {"generator": self.generator.get_state(), "accepted": torch.tensor(self.accepted)}

    def load_state_dict(self, tensors):
        self.generator.set_state(tensors["generator"])
        self.accepted = int(tensors["accepted"])
