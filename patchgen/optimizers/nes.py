"""Optimiser `nes`: natural evolution strategies (Wierstra et al. 2014; Ilyas et al. 2018's query-limited attack).
Each step scores `population` antithetic pairs of Gaussian perturbations of the artifact's parameters on one draw,
estimates the gradient from their loss differences, and takes an Adam step along it. Works for any artifact kind
and any victim that answers queries."""

from dataclasses import dataclass

from patchgen.optimizers.adam import adam_state, load_adam_state
from patchgen.optimizers.base import Optimizer, candidate_generator, cosine_lr
from patchgen.ranges import number


@dataclass
class Settings:
    population: int = number(10, 1, 10_000)  # antithetic pairs per step: 2 x this candidates, each on the batch
    sigma: float = number(0.5, 0, 100, open_low=True)  # perturbation scale, in parameter units (patch logits)
    lr: float = number(0.1, 0, 10, open_low=True)
    lr_final: float = number(0.1, 0, 1)


class NES(Optimizer):
    def __init__(self, settings: Settings, objective, seed: int):
        import torch

        super().__init__(settings, objective, seed)
        self.adam = torch.optim.Adam(objective.parameters, lr=settings.lr)
        self.generator = candidate_generator(seed)

    def step(self, objective, step, steps):
        import torch

        s = self.settings
        for group in self.adam.param_groups:
            group["lr"] = cosine_lr(step, steps, s.lr, s.lr_final)
        centre = objective.vector()
        noise = torch.randn(s.population, len(centre), generator=self.generator).to(centre.device)
        losses = objective.losses(objective.draw(), torch.cat([centre + s.sigma * noise, centre - s.sigma * noise]))
        plus, minus = losses.split(s.population)
        # rank-free antithetic estimate: E[(L(x+su) - L(x-su)) u] / 2s
        gradient = ((plus - minus)[:, None] * noise).mean(0) / (2 * s.sigma)
        objective.set_gradient(gradient)
        self.adam.step()
        mean = losses.mean()
        return mean, {"adversarial": mean}

    def log(self):
        return {"lr": self.adam.param_groups[0]["lr"]}

    def state_dict(self):
        return {"generator": self.generator.get_state(), **{f"adam.{k}": v for k, v in adam_state(self.adam).items()}}

    def load_state_dict(self, tensors):
        self.generator.set_state(tensors["generator"])
        load_adam_state(self.adam, {k[len("adam."):]: v for k, v in tensors.items() if k.startswith("adam.")})
