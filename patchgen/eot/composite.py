"""Pasting warped windows into the images, slot after slot, over one canvas written in place.

Autograd's own out-of-place scatter copies the whole batch of images once per slot going forward, and its backward
about twice more per slot: with six people per image at 640 px that is most of the EOT step's memory traffic, and
it grows with batch x image size x slots (the step's fall-off at large batches in BENCHMARKS.md). Written by hand,
forward and backward each copy the canvas once and touch only the windows after that."""

import torch


def composite(canvas: torch.Tensor, colours: torch.Tensor, alphas: torch.Tensor, start: torch.Tensor,
              offsets: torch.Tensor) -> torch.Tensor:
    """canvas (B,3,P): flat images; colours (B,n,3,K) premultiplied and alphas (B,n,1,K): each slot's window;
    start (B,n) long: where each window's first pixel lies in P; offsets (1,K) long: the window's pixels from it.
    Slot 0 is drawn first, each later slot over it: out = under * (1 - alpha) + colour."""
    return _Composite.apply(canvas, colours, alphas, start, offsets)


def _window_index(start, offsets, slot, channels):
    return (start[:, slot, None] + offsets)[:, None, :].expand(-1, channels, -1)


class _Composite(torch.autograd.Function):
    @staticmethod
    def forward(ctx, canvas, colours, alphas, start, offsets):
        out = canvas.clone()
        # what each window covered when it was drawn (its alpha's gradient), in the canvas's dtype under autocast
        unders = colours.new_empty(colours.shape, dtype=out.dtype)
        for slot in range(colours.shape[1]):
            index = _window_index(start, offsets, slot, out.shape[1])
            unders[:, slot] = out.gather(2, index)
            out.scatter_(2, index, unders[:, slot] * (1 - alphas[:, slot]) + colours[:, slot])
        ctx.save_for_backward(alphas, unders, start, offsets)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        alphas, unders, start, offsets = ctx.saved_tensors
        grad = grad.clone()  # becomes the canvas's gradient, each window scaled by what covered it
        grad_colours = torch.empty_like(unders)
        for slot in reversed(range(unders.shape[1])):  # the last slot drawn is the first undone
            index = _window_index(start, offsets, slot, grad.shape[1])
            above = grad.gather(2, index)
            grad_colours[:, slot] = above
            grad.scatter_(2, index, above * (1 - alphas[:, slot]))
        grad_alphas = -(grad_colours * unders).sum(2, keepdim=True)
        return grad if ctx.needs_input_grad[0] else None, grad_colours, grad_alphas, None, None
