"""Loss term `style`: the artifact's feature statistics against a reference style image's (Gatys et al. 2016's
Gram matrices, as AdvCam uses them), through the ImageNet MobileNetV2 that comes with its weights package
(`mobilenet_v2-imagenet`: nothing is downloaded). Layers from fine to coarse, each matrix normalised by its size,
so the term reads the same whatever the artifact's resolution."""

import cv2
import torch

from patchgen.image_io import read_image

LAYERS = (3, 6, 10)  # MobileNetV2 feature blocks whose outputs are compared (strides 4, 8, 16)
STYLE_PX = 224  # the reference is read at this size


def gram(features: torch.Tensor) -> torch.Tensor:
    """(B,C,H,W) -> (B,C,C) channel co-activations, averaged over positions."""
    flat = features.flatten(2)
    return flat @ flat.transpose(1, 2) / flat.shape[-1]


class Style:
    def __init__(self, config, device):
        from patchgen.victims.torchvision_classifier import load_mobilenet_v2_imagenet

        victim = load_mobilenet_v2_imagenet("mobilenet_v2-imagenet").to(device)
        self.mean, self.std = victim.mean, victim.std
        self.blocks = victim.model.features[: max(LAYERS) + 1]
        rgb = cv2.resize(read_image(config.loss.style_image), (STYLE_PX, STYLE_PX), interpolation=cv2.INTER_AREA)
        reference = torch.from_numpy(rgb).permute(2, 0, 1).float().div(255).to(device)
        with torch.no_grad():
            self.targets = [g.detach() for g in self.grams(reference)]

    def grams(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = (image.reshape(-1, *image.shape[-3:]) - self.mean) / self.std  # a sticker set's pieces: a batch
        found = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in LAYERS:
                found.append(gram(x))
        return found

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return sum(((g - t) ** 2).mean() for g, t in zip(self.grams(image), self.targets))
