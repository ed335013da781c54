"""What an optimiser works on: the artifact's parameters as one vector, draws of (images, EOT params), and the loss
of a draw, differentiable (white-box) or per candidate artifact without gradients (by queries).

Candidates are scored with common random numbers: every candidate of a step on the same images and transformations,
so their differences are the candidates' own. Under torchrun each rank scores every candidate on its own share of
the batch and the scores are averaged over ranks, so every rank keeps the same candidate."""

from dataclasses import fields

import torch
from torch.nn.utils import parameters_to_vector

from patchgen import eot
from patchgen.config import ADVERSARIAL
from patchgen.placements.base import Placed
from patchgen.victims.protocol import as_output


RENDER_PIXELS = 2**24  # image pixels rendered at once when scoring candidates (float32 RGB: 200 MB)


class Objective:
    def __init__(self, setup, world, account=None):
        """account: a queries.Account when the victim is reached by queries only (victim_access: query); without
        one, candidates are scored on the victim's raw output."""
        self.setup, self.world, self.account = setup, world, account
        self.parameters = list(setup.artifact.parameters())
        self.bounds = setup.artifact.bounds
        self.last_draw = None
        # stopping part way through a step's candidates needs the ranks to agree per group: one process only
        self.stops_at_success = setup.config.train.stop_on_success and account is not None and world.size == 1
        self.succeeded_at = None

    def draw(self):
        self.last_draw = self.setup.draw()
        return self.last_draw

    def loss(self, draw):
        return self.setup.step_loss(*draw)

    def average_gradients(self) -> None:
        self.world.average_gradients(self.parameters)

    def vector(self) -> torch.Tensor:
        return parameters_to_vector(self.parameters).detach().clone()

    @torch.no_grad()
    def assign(self, vector: torch.Tensor) -> None:
        """The parameters take these values (copied: the vector stays the caller's)."""
        for index, p in enumerate(self.parameters):
            p.copy_(self.view(vector, index))

    def view(self, vector: torch.Tensor, index: int) -> torch.Tensor:
        """The slice of a flat vector that is parameter `index`, shaped like it (writes go to the vector); of (P,D)
        vectors, (P, *shape)."""
        start = sum(p.numel() for p in self.parameters[:index])
        shape = self.parameters[index].shape
        part = vector[..., start:start + self.parameters[index].numel()]
        return part.view(shape) if vector.dim() == 1 else part.reshape(len(vector), *shape)

    def propose(self, vector: torch.Tensor, share: float, generator: torch.Generator) -> None:
        """A random change of the artifact, made in place in this vector of its parameters: the artifact's own kind
        of change (Artifact.propose), on one of its parameters picked at random."""
        index = int(torch.randint(len(self.parameters), (1,), generator=generator))
        self.setup.artifact.propose(self.view(vector, index), share, self.bounds, generator)

    def set_gradient(self, gradient: torch.Tensor) -> None:
        """An estimated gradient, averaged over ranks, put where a torch optimiser reads it."""
        for index, p in enumerate(self.parameters):
            p.grad = self.view(gradient.to(p.device), index).clone()
        self.average_gradients()

    @torch.no_grad()
    def losses(self, draw, candidates: torch.Tensor, until_success: bool = False) -> torch.Tensor:
        """(P,) total loss of each candidate vector on this draw; the artifact is left as it was. Candidates are
        rendered many at a time (RENDER_PIXELS at most per render) and shown to the victim together.
        until_success (a search that keeps one candidate): in a run told to stop at its first success
        (train.stop_on_success, one process, by queries), candidates are shown query.batch images at a time and
        scoring ends with the first group in which one succeeds on every image: the rest score inf (never kept),
        and `succeeded_at` names that candidate (else None). The answers already paid for say when to stop."""
        setup = self.setup
        index, params = draw
        scenes = setup.scenes.batch(index)
        placed = setup.placement.place(scenes, params)
        b = len(index)
        per_render = max(1, RENDER_PIXELS // (scenes.images[0, 0].numel() * b))
        early = until_success and self.stops_at_success
        group = max(1, self.account.batch // b) if early else per_render
        chunk = max(1, per_render // group) * group  # a render holds whole groups
        weight = setup.weights.get(ADVERSARIAL, 0.0)
        terms = self.terms(candidates)
        totals = torch.full((len(candidates),), float("inf"), device=setup.device)
        self.succeeded_at = None
        for start in range(0, len(candidates), group):
            if start % chunk == 0:
                images = self.rendered(scenes, placed, params, candidates[start:start + chunk])
            at = start % chunk * b
            outputs, predictions = self.outputs(images[at:at + group * b], b)
            totals[start:start + len(outputs)] = torch.stack(
                [weight * setup.goal.loss(out, scenes, placed).float().mean() for out in outputs]
            ) + terms[start:start + len(outputs)]
            if early:
                won = [bool(setup.goal.succeeded(p, scenes, placed).all()) for p in predictions]
                if any(won):
                    self.succeeded_at = start + won.index(True)
                    break
        return self.world.mean(totals)

    def terms(self, candidates: torch.Tensor) -> torch.Tensor:
        """(P,) each candidate's weighted loss terms (tv, nps, style: on its printable image, so each is put in
        place in turn); none in the config, none to compute."""
        setup = self.setup
        if not setup.terms:
            return torch.zeros(len(candidates), device=setup.device)
        kept, values = self.vector(), []
        for candidate in candidates:
            self.assign(candidate)
            values.append(setup.terms_total())
        self.assign(kept)
        return torch.stack(values)

    def rendered(self, scenes, placed, params, candidates: torch.Tensor) -> torch.Tensor:
        """(P*B,3,H,W): the scenes with each candidate pasted in on this draw, candidate-major."""
        setup = self.setup
        n = len(candidates)
        candidates = candidates.to(self.parameters[0])  # a search keeps its population on the CPU
        values = [self.view(candidates, index) for index in range(len(self.parameters))]
        look = setup.artifact.appearances(values, params)
        many = Placed(placed.matrix.repeat(n, 1, 1), placed.valid.repeat(n, 1), placed.side)
        return setup.render(scenes.images.repeat(n, 1, 1, 1), many, repeated(params, n), look)

    def outputs(self, images: torch.Tensor, b: int):
        """Each candidate's victim output on its b images as the goals' losses read it, and what their `succeeded`
        reads (by queries; a detector's answer itself)."""
        setup = self.setup
        count = len(images) // b
        if self.account is None:
            return [setup.model(images[i * b:(i + 1) * b]) for i in range(count)], None
        answer = self.account.query(images)
        answers = [answer[i * b:(i + 1) * b] for i in range(count)]
        outputs = [as_output(setup.victim, a) for a in answers]
        return outputs, answers if setup.victim.family == "detector" else outputs

    @torch.no_grad()
    def success(self) -> float:
        """The goal's success rate (its own `succeeded`, over all its instances) for the artifact as it is now on
        the last step's draw, averaged over ranks: a query run's progress against the queries it spent. Its
        answers are mostly cached (a search keeps a candidate it just scored on this very draw)."""
        setup = self.setup
        index, params = self.last_draw
        scenes = setup.scenes.batch(index)
        placed = setup.placement.place(scenes, params)
        succeeded = setup.goal.succeeded(self.prediction(setup.render(scenes.images, placed, params)), scenes, placed)
        rate = succeeded.float().mean() if len(succeeded) else torch.zeros((), device=setup.device)
        return float(self.world.mean(rate))

    def prediction(self, images: torch.Tensor):
        """What goals judge success on: a classifier's logits (log-probabilities), a detector's detections."""
        victim = self.setup.victim
        detector = victim.family == "detector"
        if self.account is not None:
            answer = self.account.query(images)
            return answer if detector else as_output(victim, answer)
        return victim.detect(images) if detector else victim(images)

    @torch.no_grad()
    def fooled(self) -> bool:
        """Whether the goal succeeds on every image of this rank's training share, each shown as evaluation shows
        it (the placement's evaluation params). By queries this is mostly a cached answer: with no EOT the last
        step scored the very same image."""
        setup = self.setup
        scenes = setup.scenes.batch(setup.shard)
        generator = torch.Generator(setup.device).manual_seed(0)
        params = setup.placement.evaluation_params(len(scenes) * setup.slots, generator, setup.artifact.tiled)
        placed = setup.placement.place(scenes, params)
        done = setup.goal.succeeded(self.prediction(setup.render(scenes.images, placed, params)), scenes, placed).all()
        return bool(self.world.all(done).item())


def repeated(params: eot.Params, n: int) -> eot.Params:
    """The same draw for n candidates in a row (candidate-major, as their images are stacked)."""
    return eot.Params(**{f.name: getattr(params, f.name).repeat(n, *[1] * (getattr(params, f.name).dim() - 1))
                         for f in fields(params)})
