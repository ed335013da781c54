import torch

from patchgen import eot
from patchgen.artifacts import Patch
from patchgen.data import load_scenes
from patchgen.objectives import vanish
from patchgen.victims import load_victim


def scenes_and_victim(yolov5n_path, inria_dev):
    victim = load_victim(yolov5n_path, imgsz=320)
    scenes, _ = load_scenes(inria_dev, 320, [0], max_targets=3, quiet=True)
    return scenes.batch(torch.arange(3)), victim


def test_same_params_give_the_same_image(yolov5n_path, inria_dev):
    scenes, _ = scenes_and_victim(yolov5n_path, inria_dev)
    patch = Patch(32, init="random", generator=torch.Generator().manual_seed(1))
    params = eot.sample(scenes.mask.numel(), torch.Generator().manual_seed(7), eot.EOTSettings(), 32)
    first = eot.render(patch(), patch.mask, scenes, params)
    again = eot.render(patch(), patch.mask, scenes, params)
    other = eot.render(patch(), patch.mask, scenes,
                       eot.sample(scenes.mask.numel(), torch.Generator().manual_seed(8), eot.EOTSettings(), 32))
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    assert torch.isfinite(first).all()
    assert not torch.equal(first, scenes.images), "the patch must actually be pasted"


def test_sampling_is_replayable_from_the_seed():
    a = eot.sample(5, torch.Generator().manual_seed(3), eot.EOTSettings(), 16)
    b = eot.sample(5, torch.Generator().manual_seed(3), eot.EOTSettings(), 16)
    assert all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("angle", "corners", "noise", "blur_sigma"))
    assert a.angle.abs().max() <= 20 * torch.pi / 180 + 1e-6
    assert ((a.contrast >= 0.8) & (a.contrast <= 1.2)).all()


def test_patch_lands_on_the_torso_only(yolov5n_path, inria_dev):
    scenes, _ = scenes_and_victim(yolov5n_path, inria_dev)
    scenes.mask[:, 1:] = False  # one target per image: every changed pixel must belong to it
    patch = Patch(32)
    params = eot.identity(scenes.mask.numel(), 32)
    white = torch.ones(3, 32, 32)
    out = eot.render(white, patch.mask, scenes, params, scale=0.2, anchor_y=0.4)
    changed = (out - scenes.images).abs().sum(1) > 1e-4  # (B,H,W)
    box = scenes.boxes[0, 0]
    cx, cy = (box[0] + box[2]) / 2, box[1] + 0.4 * (box[3] - box[1])
    side = 0.2 * torch.hypot(box[2] - box[0], box[3] - box[1])
    ys, xs = torch.nonzero(changed[0], as_tuple=True)
    assert abs(xs.float().mean() - cx) < 2 and abs(ys.float().mean() - cy) < 2
    assert abs((xs.max() - xs.min() + 1) - side) < 3


def test_gradients_reach_the_patch_through_render_and_victim(yolov5n_path, inria_dev):
    scenes, victim = scenes_and_victim(yolov5n_path, inria_dev)
    patch = Patch(32)
    params = eot.sample(scenes.mask.numel(), torch.Generator().manual_seed(0), eot.EOTSettings(), 32)
    loss = vanish(victim(eot.render(patch(), patch.mask, scenes, params)), [0]).mean()
    loss.backward()
    grad = patch.logits.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert all(p.grad is None for p in victim.parameters()), "the victim stays frozen"


def test_no_ghosts_or_nan_beyond_the_vanishing_line():
    from patchgen.eot.warp import warp_into_image

    src = torch.ones(1, 1, 16, 16)
    # strong perspective: the vanishing line (w = 0) crosses the 200 px image at x = 100
    matrix = torch.linalg.inv(torch.tensor([[[1.0, 0, 0], [0, 1, 0], [-0.01, 0, 1]]]))
    out = warp_into_image(src, matrix, (200, 200))
    assert torch.isfinite(out).all()
    assert out[..., :, 101:].abs().sum() == 0, "pixels behind the vanishing line sample nothing"
    assert out[..., :16, :16].sum() > 0, "the artifact itself is still drawn"
