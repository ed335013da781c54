"""Image classifiers behind one interface: `forward(images01) -> logits`, the model's own input normalisation
inside, so every attack feeds images in [0,1] whatever the victim was trained on."""

import torch

from patchgen.victims.class_names import ClassNames
from patchgen.victims.frozen import freeze

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ClassifierVictim(ClassNames, torch.nn.Module):
    """A frozen classifier: (B,3,H,W) in [0,1] -> logits (B,C). Gradients reach the input only."""

    family = "classifier"

    def __init__(self, model: torch.nn.Module, names: list[str], imgsz: int, name: str,
                 mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)):
        super().__init__()
        self.model = freeze(model)
        self.names = list(names)
        self.imgsz = int(imgsz)
        self.name = name
        # buffers, not plain tensors: .to(device) must move them with the weights
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images01: torch.Tensor) -> torch.Tensor:
        return self.model((images01 - self.mean) / self.std)

    @torch.no_grad()
    def predict(self, images01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(top-1 class (B,) long, softmax probabilities (B,C))."""
        probs = self(images01).float().softmax(dim=-1)
        return probs.argmax(dim=-1), probs


def classifier_from_module(module: torch.nn.Module, names: list[str], imgsz: int, mean=(0.0, 0.0, 0.0),
                           std=(1.0, 1.0, 1.0), name: str = "module") -> ClassifierVictim:
    """Any torch.nn.Module handed to the Python API as a victim: it maps normalised (B,3,imgsz,imgsz) images to
    (B,len(names)) logits; `mean`/`std` are the normalisation it was trained with (on [0,1] images)."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"classifier_from_module needs a torch.nn.Module, got {type(module).__name__}")
    return ClassifierVictim(module, names, imgsz, name, mean=mean, std=std)
