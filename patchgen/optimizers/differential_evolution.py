"""Optimiser `differential_evolution`: DE/rand/1 (Storn and Price 1997), as Su et al. 2019 use it for one-pixel
attacks: a population of whole artifacts (for a `pixels` artifact: the place and colour of k pixels; for stickers,
their places), each generation a mutant a + F (b - c) per member from three distinct others (or best + F (b - c):
scipy's best/1, with F dithered per generation, as torchattacks runs it), kept where it scores better than its
parent. One step is one generation. Parents and mutants are scored together on the generation's
draw (common random numbers: with EOT a parent's lucky score on an old draw would otherwise survive for ever); by
queries, with a fixed objective (one image, no EOT), a parent's image is the one already paid for: cached, free."""

from dataclasses import dataclass

from patchgen.errors import UserError
from patchgen.optimizers.base import Optimizer, candidate_generator
from patchgen.ranges import number


STRATEGIES = ("rand1", "best1")


@dataclass
class Settings:
    population: int = number(400, 4, 100_000)  # members (Su et al.: 400)
    mutation: float = number(0.5, 0, 2, open_low=True)  # F (with dither: the lowest F drawn)
    dither: float = number(0.0, 0, 2)  # F drawn per generation in [mutation, mutation + dither) (scipy: 0.5 + 0.5)
    crossover: float = number(1.0, 0, 1, open_low=True)  # each value taken from the mutant with this chance (1: all)
    # rand1: a + F (b - c) (Su et al.) | best1: best + F (b - c) (scipy's default, torchattacks' OnePixel): far
    # faster on one image, exploring less
    strategy: str = "rand1"

    def check(self, key: str) -> None:
        if self.strategy not in STRATEGIES:
            raise UserError(f"config key '{key}.strategy' must be one of {', '.join(STRATEGIES)}, got "
                            f"{self.strategy!r}")


class DifferentialEvolution(Optimizer):
    def __init__(self, settings: Settings, objective, seed: int):
        super().__init__(settings, objective, seed)
        self.generator = candidate_generator(seed)
        self.members = self.scores = None  # drawn and scored at the first step

    def step(self, objective, step, steps):
        import torch

        s, g = self.settings, self.generator
        low, high = objective.bounds
        if self.members is None:  # generation 0: uniform in the bounds, the artifact as it starts among them
            start = objective.vector().cpu()
            self.members = low + (high - low) * torch.rand(s.population, len(start), generator=g)
            self.members[0] = start.clamp(low, high)
            pool = self.members
            self.scores = objective.losses(objective.draw(), pool, until_success=True).cpu()
        else:
            n, d = self.members.shape
            others = torch.stack([torch.randperm(n - 1, generator=g)[:3] for _ in range(n)])  # (n,3) of n-1 others
            others += (others >= torch.arange(n)[:, None]).long()  # skip the member itself: three distinct others
            a, b, c = (self.members[others[:, i]] for i in range(3))
            # the dither's draw only where there is one: a run without it keeps its candidate stream
            f = s.mutation + s.dither * float(torch.rand((), generator=g)) if s.dither else s.mutation
            base = self.members[int(self.scores.argmin())].expand(n, d) if s.strategy == "best1" else a
            mutants = (base + f * (b - c)).clamp(low, high)
            if s.crossover < 1:
                keep = torch.rand(n, d, generator=g) >= s.crossover
                keep[torch.arange(n), torch.randint(d, (n,), generator=g)] = False  # at least one value changes
                mutants = torch.where(keep, self.members, mutants)
            pool = torch.cat([self.members, mutants])  # parents first: by queries, on a fixed draw, free
            parents, scores = objective.losses(objective.draw(), pool, until_success=True).cpu().split(n)
            better = scores < parents  # a mutant left unscored (inf) once one succeeded is never kept
            self.members = torch.where(better[:, None], mutants, self.members)
            self.scores = torch.where(better, scores, parents)
        best = int(self.scores.argmin())
        won = objective.succeeded_at
        objective.assign(pool[won] if won is not None else self.members[best])
        return self.scores[best], {"adversarial": self.scores[best]}

    def log(self):
        if self.scores is None:
            return {}
        scored = self.scores[self.scores.isfinite()]  # members left unscored after a success score inf
        return {"population_mean": float(scored.mean())}

    def state_dict(self):
        state = {"generator": self.generator.get_state()}
        if self.members is not None:
            state.update(members=self.members, scores=self.scores)
        return state

    def load_state_dict(self, tensors):
        self.generator.set_state(tensors["generator"])
        self.members, self.scores = tensors.get("members"), tensors.get("scores")
