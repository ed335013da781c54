"""Image classifiers behind one interface: `forward(images01) -> logits`, the model's own input normalisation
inside, so every attack feeds images in [0,1] whatever the victim was trained on."""

import sys

import torch

from patchgen.victims.class_names import ClassNames
from patchgen.victims.frozen import freeze

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# A classifier knows objects at the scale it was trained on. Measured on the offline samples (100 CIFAR, 60 ImageNet
# images): the CIFAR ResNet20 falls from 81 % top-1 at its 32 px to 18 % at 64 px; MobileNetV2 from 87 % at 224 px
# to 62 % at 96 px and 58 % at 640 px, while 160 to 320 px move it by under 2 points and 128 px by 7. So twice or
# half the size, or further, is far.
FAR_SIZE_FACTOR = 2


class ClassifierVictim(ClassNames, torch.nn.Module):
    """A frozen classifier: (B,3,H,W) in [0,1] -> logits (B,C). Gradients reach the input only."""

    family = "classifier"
    differentiable = True

    def __init__(self, model: torch.nn.Module, names: list[str], imgsz: int, name: str,
                 mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), wnids: list[str] | None = None):
        super().__init__()
        self.model = freeze(model)
        self.names = list(names)
        self.wnids = list(wnids) if wnids else None
        self.imgsz = int(imgsz)
        self.name = name
        # buffers, not plain tensors: .to(device) must move them with the weights
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images01: torch.Tensor) -> torch.Tensor:
        return self.model((images01 - self.mean) / self.std)

    @torch.no_grad()
    def query(self, images01: torch.Tensor) -> torch.Tensor:
        """What a caller of the model sees (victims/protocol.py): probabilities (B,C)."""
        return self(images01).float().softmax(dim=-1)

    @torch.no_grad()
    def predict(self, images01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(top-1 class (B,) long, softmax probabilities (B,C))."""
        probs = self(images01).float().softmax(dim=-1)
        return probs.argmax(dim=-1), probs


def warn_far_input_size(victim: ClassifierVictim, imgsz: int) -> None:
    """One warning line when imgsz is FAR_SIZE_FACTOR or more from the classifier's own input size: every image
    then looks unlike its training images, clean accuracy collapses and an attack "succeeds" unearned."""
    own = victim.imgsz
    if max(imgsz, own) >= FAR_SIZE_FACTOR * min(imgsz, own):
        print(f"warning: imgsz {imgsz} px is far from {victim.name}'s own input size {own} px, so it will misjudge "
              f"even clean images; use imgsz: 0 (its own size) unless that is what you are testing", file=sys.stderr)


def classifier_from_module(module: torch.nn.Module, names: list[str], imgsz: int, mean=(0.0, 0.0, 0.0),
                           std=(1.0, 1.0, 1.0), name: str = "module") -> ClassifierVictim:
    """Any torch.nn.Module handed to the Python API as a victim: it maps normalised (B,3,imgsz,imgsz) images to
    (B,len(names)) logits; `mean`/`std` are the normalisation it was trained with (on [0,1] images)."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"classifier_from_module needs a torch.nn.Module, got {type(module).__name__}")
    return ClassifierVictim(module, names, imgsz, name, mean=mean, std=std)
