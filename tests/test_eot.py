import pytest
import torch

from patchgen import eot
from patchgen.artifacts import Patch
from patchgen.data import load_scenes
from patchgen.victims import load_victim
from spine_helpers import render_on_targets, small_config, two_image_folder, vanish_goal

STICKERS = "[{centre: [0.3, 0.3], side: 0.12, shape: circle}, {centre: [0.7, 0.5], side: 0.12}]"


def scenes_and_victim(yolov5n_path, inria_dev):
    victim = load_victim(yolov5n_path, imgsz=320)
    scenes, _ = load_scenes(inria_dev, 320, [0], max_targets=3, quiet=True)
    return scenes.batch(torch.arange(3)), victim


def test_same_params_give_the_same_image(yolov5n_path, inria_dev):
    scenes, _ = scenes_and_victim(yolov5n_path, inria_dev)
    patch = Patch(32, init="random", generator=torch.Generator().manual_seed(1))
    params = eot.sample(scenes.mask.numel(), torch.Generator().manual_seed(7), eot.EOTSettings(), 32)
    first = render_on_targets(patch(), patch.mask, scenes, params)
    again = render_on_targets(patch(), patch.mask, scenes, params)
    other = render_on_targets(patch(), patch.mask, scenes,
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
    out = render_on_targets(white, patch.mask, scenes, params, scale=0.2, anchor_y=0.4)
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
    loss = vanish_goal(victim, "image").loss(victim(render_on_targets(patch(), patch.mask, scenes, params)), scenes,
                                             None).mean()
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


def full_image_render(artifact, mask, scenes, params, scale=0.2, anchor_y=0.4):
    """The plain definition: every instance warped over the whole image, composited slot by slot."""
    from patchgen.eot.render import jitter_matrix, photometric
    from patchgen.eot.warp import warp_into_image
    from patchgen.placements.on_targets import torso_homography

    b, n = scenes.mask.shape
    h, w = scenes.images.shape[-2:]
    side = artifact.shape[-1]
    rgb = photometric(artifact, params)
    rgba = torch.cat([rgb * mask, mask.expand(len(params), 1, side, side)], 1)
    boxes = torch.where(scenes.mask[..., None], scenes.boxes, torch.tensor([0.0, 0.0, side, side]))
    matrix = torso_homography(boxes.reshape(-1, 4), side, scale, anchor_y) @ jitter_matrix(params, side)
    warped = warp_into_image(rgba, matrix, (h, w)).view(b, n, 4, h, w) * scenes.mask.view(b, n, 1, 1, 1)
    out = scenes.images
    for slot in range(n):
        out = out * (1 - warped[:, slot, 3:]) + warped[:, slot, :3]
    return out


def test_windowed_compositing_equals_the_full_image_warp(yolov5n_path, inria_dev):
    scenes, _ = load_scenes(inria_dev, 320, [0], max_targets=4, quiet=True)
    batch = scenes.batch(torch.arange(12))
    batch.boxes[0, 0] = torch.tensor([250.0, 200.0, 330.0, 360.0])  # a target hanging off the right edge
    patch = torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(2), requires_grad=True)
    mask = torch.ones(1, 48, 48)
    params = eot.sample(batch.mask.numel(), torch.Generator().manual_seed(5), eot.EOTSettings(), 48)
    windowed = render_on_targets(patch, mask, batch, params)
    reference = full_image_render(patch, mask, batch, params)
    assert (windowed - reference).abs().max() < 5e-3  # the same bilinear samples, up to float rounding
    assert (windowed[0] - batch.images[0]).abs()[..., 300:].sum() > 0, "the edge patch is drawn"
    (grad_w,) = torch.autograd.grad(windowed.sum(), patch)
    (grad_r,) = torch.autograd.grad(reference.sum(), patch)
    assert torch.allclose(grad_w, grad_r, atol=1e-2)


def test_in_place_compositing_has_the_values_and_gradient_of_the_plain_definition():
    # Overlapping windows (later slots drawn over earlier ones, one window half over another image's row) and a
    # differentiable canvas: float64 finite differences against the hand-written backward.
    from patchgen.eot.composite import composite

    generator = torch.Generator().manual_seed(0)
    b, n, h, w, k = 2, 3, 9, 11, 4
    canvas = torch.rand(b, 3, h * w, dtype=torch.float64, generator=generator, requires_grad=True)
    colours = torch.rand(b, n, 3, k * k, dtype=torch.float64, generator=generator, requires_grad=True)
    alphas = torch.rand(b, n, 1, k * k, dtype=torch.float64, generator=generator, requires_grad=True)
    steps = torch.arange(k)
    offsets = (steps[:, None] * w + steps[None, :]).reshape(1, -1)
    start = torch.tensor([[0, 12, 13], [30, 31, 30]])
    plain = canvas
    for slot in range(n):
        index = (start[:, slot, None] + offsets)[:, None, :].expand(b, 3, k * k)
        plain = plain.scatter(2, index, plain.gather(2, index) * (1 - alphas[:, slot]) + colours[:, slot])
    assert torch.allclose(composite(canvas, colours, alphas, start, offsets), plain)
    assert torch.autograd.gradcheck(lambda c, co, a: composite(c, co, a, start, offsets), (canvas, colours, alphas))


def reference_render(images, masks, scenes_images, placed, params):
    """The plain definition for any artifact kind: each instance's own appearance, cloth-warped, warped over the
    whole image by its placement's one matrix, composited slot by slot."""
    from patchgen.eot.cloth import cloth_warp
    from patchgen.eot.render import photometric
    from patchgen.eot.warp import warp_into_image

    b, n = placed.valid.shape
    h, w = scenes_images.shape[-2:]
    n_inst, side = len(params), images.shape[-1]
    rgb = photometric(images, params)
    masks = masks.expand(n_inst, 1, side, side)
    rgba = cloth_warp(torch.cat([rgb * masks, masks], 1), params.tps)
    warped = warp_into_image(rgba, placed.matrix, (h, w)).view(b, n, 4, h, w) * placed.valid.view(b, n, 1, 1, 1)
    out = scenes_images
    for slot in range(n):
        out = out * (1 - warped[:, slot, 3:]) + warped[:, slot, :3]
    return out


@pytest.mark.parametrize("kind, settings", [
    ("patch", {"eot.tps": 0.04}),
    ("texture", {"artifact.kind": "texture", "artifact.size": 32, "artifact.crop": 24, "eot.tps": 0.04,
                 "placement.kind": "torso"}),
    ("camouflage", {"artifact.kind": "camouflage", "artifact.size": 32, "artifact.crop": 24, "artifact.cell": 2,
                    "artifact.colours": 4, "placement.kind": "torso", "eot.tps": 0.04}),
    ("stickers", {"artifact.kind": "stickers", "artifact.size": 16, "artifact.pieces": STICKERS,
                  "placement.kind": "in_box"}),
])  # fmt: skip
def test_the_fast_render_of_every_artifact_kind_matches_the_reference_render(kind, settings, yolov5n_path,
                                                                             inria_dev, tmp_path):
    """The training step's render (one matrix per instance, one TPS grid, each instance warped into a window
    around its placement, one gather/scatter per slot) against the plain definition, on the same params."""
    from patchgen.training import Setup

    if kind == "camouflage":
        settings = {**settings, "artifact.reference": str(sorted((inria_dev / "images").iterdir())[1])}
    data = two_image_folder(inria_dev, tmp_path / "data")
    setup = Setup(small_config(yolov5n_path, data, **{"artifact.init": "random", **settings}), quiet=True)
    index, params = setup.draw()
    scenes = setup.scenes.batch(index)
    placed = setup.placement.place(scenes, params)
    image, mask = setup.artifact.appearance(params)
    fast = eot.render(image, mask, scenes.images, placed, params, None, setup.window)
    reference = reference_render(image, mask, scenes.images, placed, params)
    assert (fast - scenes.images).abs().sum() > 0, "the artifact is drawn"
    assert (fast - reference).abs().max() < 5e-3, (fast - reference).abs().max()  # the same bilinear samples
    weights = torch.rand(fast.shape, generator=torch.Generator().manual_seed(1))  # any loss of the image
    trained = [p for p in setup.artifact.parameters() if p.requires_grad]
    assert trained
    grad_fast = torch.autograd.grad((fast * weights).sum(), trained, retain_graph=True)
    grad_reference = torch.autograd.grad((reference * weights).sum(), trained)
    for a, b in zip(grad_fast, grad_reference):
        assert torch.allclose(a, b, atol=1e-3 * b.abs().max()), (a - b).abs().max()
