"""Optimiser `adam`: backpropagation through the victim and Adam on the artifact, with a cosine learning rate
(Thys et al. 2019; Brown et al. 2017). Needs a differentiable victim."""

from dataclasses import dataclass

from patchgen.optimizers.base import Optimizer, cosine_lr
from patchgen.ranges import number


@dataclass
class Settings:
    # on sigmoid logits: 10 already saturates every pixel in one step; Adam's lr / (1 - beta1) must fit float32
    lr: float = number(0.03, 0, 10, open_low=True)
    lr_final: float = number(0.1, 0, 1)  # the cosine schedule ends at lr x lr_final


class Adam(Optimizer):
    def __init__(self, settings: Settings, objective, seed: int):
        import torch

        super().__init__(settings, objective, seed)
        self.adam = torch.optim.Adam(objective.parameters, lr=settings.lr)

    def step(self, objective, step, steps):
        for group in self.adam.param_groups:
            group["lr"] = cosine_lr(step, steps, self.settings.lr, self.settings.lr_final)
        total, parts = objective.loss(objective.draw())
        self.adam.zero_grad(set_to_none=True)
        total.backward()
        objective.average_gradients()
        self.adam.step()
        return total, parts

    def log(self):
        return {"lr": self.adam.param_groups[0]["lr"]}

    def state_dict(self):
        return adam_state(self.adam)

    def load_state_dict(self, tensors):
        load_adam_state(self.adam, tensors)


def adam_state(adam) -> dict:
    """torch Adam's moments per parameter as named tensors: 'I.NAME' for parameter I."""
    import torch

    return {f"{i}.{name}": torch.as_tensor(value).detach().cpu()
            for i, param in enumerate(adam.param_groups[0]["params"])
            for name, value in adam.state.get(param, {}).items()}


def load_adam_state(adam, tensors: dict) -> None:
    for i, param in enumerate(adam.param_groups[0]["params"]):
        state = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.split(".", 1)[0] == str(i)}
        if state:
            adam.state[param] = {k: (v if k == "step" else v.to(param.device)) for k, v in state.items()}
