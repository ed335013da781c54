"""Every victim's model is frozen the same way: the attack optimises its input, never its weights."""

import torch


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """Eval mode and no parameter gradients: only the input (the artifact) is optimised."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
