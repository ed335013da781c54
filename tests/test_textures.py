"""Textures, camouflage and sticker sets through the engine: tiling, the cloth warp, the palette, training."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from patchgen import eot, run_dir
from patchgen.artifacts import load_artifact
from patchgen.artifacts.camouflage import Camouflage, palette_from_photo
from patchgen.artifacts.tiling import toroidal_crops, wrapped_upsample
from patchgen.config import EOTSettings
from patchgen.training import Setup, train
from spine_helpers import on_targets, small_config, two_image_folder
from test_engine import config_error

STICKERS = "[{centre: [0.3, 0.3], side: 0.12, shape: circle}, {centre: [0.7, 0.5], side: 0.12}]"


def test_a_toroidal_crop_wraps_past_the_right_and_bottom_edges():
    tile = torch.arange(5 * 5, dtype=torch.float32).view(1, 5, 5)
    crop = toroidal_crops(tile, torch.tensor([[0.6, 0.8]]), 4)[0, 0]  # starts at x 3, y 4
    rows, cols = [4, 0, 1, 2], [3, 4, 0, 1]
    assert torch.equal(crop, tile[0][rows][:, cols])
    tiled = tile.repeat(1, 3, 3)  # the infinite plane, as far as a crop can reach
    for start in torch.rand(20, 2, generator=torch.Generator().manual_seed(0)):
        x, y = (start * 5).long().tolist()
        assert torch.equal(toroidal_crops(tile, start[None], 7)[0], tiled[:, y:y + 7, x:x + 7])


def test_the_upsampled_tile_stays_seamless():
    cells = torch.rand(3, 6, 6, generator=torch.Generator().manual_seed(1))
    tile = wrapped_upsample(cells, 4)
    plane = wrapped_upsample(cells.repeat(1, 2, 2), 4)  # upsampling the repeated cells = repeating the tile
    assert torch.allclose(plane, tile.repeat(1, 2, 2), atol=1e-6)


def scenes_with_a_box(side=96):
    from patchgen.data import Scenes

    images = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(2))
    boxes = torch.tensor([[[20.0, 10.0, 76.0, 90.0]]])
    return Scenes(images, boxes, torch.ones(1, 1, dtype=torch.bool), ["x"])


def test_the_cloth_warp_with_zero_offsets_is_the_identity_and_offsets_move_the_artifact():
    scenes = scenes_with_a_box()
    artifact = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(3))
    mask = torch.ones(1, 32, 32)
    plain = eot.identity(1, 32)
    placed = on_targets(32, 0.4).place(scenes, plain)
    without = eot.render(artifact, mask, scenes.images, placed, plain)
    warped = eot.identity(1, 32)
    warped.tps = torch.zeros(1, 16, 2)  # a 4 x 4 grid of control points, none moved
    assert torch.allclose(eot.render(artifact, mask, scenes.images, placed, warped), without, atol=1e-5)
    settings = EOTSettings(tps=0.08)
    warped.tps = eot.sample(1, torch.Generator().manual_seed(4), settings, 32).tps
    assert warped.tps.shape == (1, 16, 2)
    moved = eot.render(artifact, mask, scenes.images, placed, warped)
    assert (moved - without).abs().mean() > 0.01


def test_sampling_without_a_cloth_warp_or_crops_draws_what_it_always_drew():
    settings = EOTSettings()
    a = eot.sample(4, torch.Generator().manual_seed(5), settings, 16)
    generator = torch.Generator().manual_seed(5)
    b = eot.sample(4, generator, settings, 16, tiled=True)
    assert torch.equal(a.angle, b.angle) and torch.equal(a.noise, b.noise) and a.tps.shape == (4, 0, 2)
    assert b.crop.min() >= 0 and b.crop.max() < 1 and b.crop.std() > 0


def test_the_palette_comes_from_the_photo_and_the_export_is_exactly_it(inria_dev, tmp_path):
    photo = sorted((inria_dev / "images").iterdir())[3]
    palette = palette_from_photo(photo, 5)
    pixels = np.asarray(Image.open(photo).convert("RGB").resize((128, 96))).reshape(-1, 3) / 255
    assert palette.shape == (5, 3)
    assert all(np.abs(pixels - c.numpy()).max(1).min() < 0.05 for c in palette)  # colours the photo holds
    camo = Camouflage(32, palette, crop=24, cell=4, init="random", generator=torch.Generator().manual_seed(6))
    hard = camo.eval()()
    flat = hard.permute(1, 2, 0).reshape(-1, 1, 3)
    assert (flat - palette[None]).abs().amax(-1).amin(-1).max() == 0  # every pixel exactly a palette colour
    camo.train()
    camo.at_step(0.0)
    far = (camo() - hard).abs().mean()
    camo.at_step(1.0)  # the last temperature
    near = (camo() - hard).abs().mean()
    camo.temperature = 1e-4  # and far below it: the soft choice becomes the hard one (bar exact ties)
    nearer = (camo() - hard).abs()
    assert far > 0.02 and far > 3 * near and (nearer.amax(0) < 1e-3).float().mean() > 0.99
    camo.save_files(tmp_path / "c.safetensors", tmp_path / "c.png")
    png = np.asarray(Image.open(tmp_path / "c.png"))[..., :3].reshape(-1, 3)
    colours = np.round(palette.numpy() * 255).astype(int)
    assert all((colours == p).all(1).any() for p in np.unique(png, axis=0))
    assert torch.equal(load_artifact(tmp_path / "c.safetensors")(), hard)


def fixed_objective(setup, artifact_state):
    """The adversarial objective over one fixed draw of EOT params, with the artifact's parameters set."""
    generator = torch.Generator().manual_seed(123)
    index = torch.arange(len(setup.scenes))
    params = eot.sample(len(index) * setup.slots, generator, setup.config.eot, setup.artifact.mask.shape[-1],
                        setup.artifact.tiled)
    with torch.no_grad():
        setup.artifact.load_state_dict(artifact_state)
        return setup.step_loss(index, params)[1]["adversarial"].item()


@pytest.mark.parametrize("kind, settings", [
    ("texture", {"artifact.kind": "texture", "artifact.size": 32, "artifact.crop": 24, "eot.tps": 0.04}),
    ("stickers", {"artifact.kind": "stickers", "artifact.size": 16, "artifact.pieces": STICKERS}),
])  # fmt: skip
def test_a_texture_and_a_sticker_set_lower_the_objective(kind, settings, yolov5n_path, inria_dev, tmp_path,
                                                         one_torch_thread):
    data = two_image_folder(inria_dev, tmp_path / "data")
    config = small_config(yolov5n_path, data, **settings, **{"optimizer.adam.lr": 0.3, "train.steps": 30})
    run = train(config, tmp_path / "run", progress=False)
    setup = Setup(config, quiet=True)
    start = {k: torch.zeros_like(v) if k == "logits" else v for k, v in setup.artifact.state_dict().items()}
    before = fixed_objective(setup, start)
    after = fixed_objective(setup, load_artifact(run).state_dict())
    assert after < before - 0.02, (before, after)
    sidecar = json.loads((run / run_dir.SIDECAR).read_text())
    assert sidecar["artifact"] == kind and (run / run_dir.RENDERS_PNG).is_file()
    if kind == "stickers":
        assert [p["file"] for p in sidecar["pieces"]] == ["sticker_0.png", "sticker_1.png"]
        piece = np.asarray(Image.open(run / "sticker_0.png"))
        assert piece.shape == (16, 16, 4) and piece[0, 0, 3] == 0 and piece[8, 8, 3] == 255  # a circle
    else:
        assert sidecar["tile_px"] == 32 and Image.open(run / run_dir.ARTIFACT_PNG).size == (32, 32)


def test_a_reference_photo_that_cannot_be_read_is_one_line(inria_dev, yolov5n_path, tmp_path):
    broken = tmp_path / "woods.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    config = tmp_path / "c.yaml"
    config.write_text(f"victim: {yolov5n_path}\ndata: {{train: {inria_dev}}}\n")
    line = config_error(config, tmp_path / "run", "artifact.kind=camouflage", f"artifact.reference={broken}")
    assert "config key 'artifact.reference'" in line and str(broken) in line, line
    line = config_error(config, tmp_path / "run", "artifact.kind=camouflage")
    assert "config key 'artifact.reference' is required by artifact.kind 'camouflage'" in line, line


def test_stickers_need_the_in_box_placement_and_a_layout(inria_dev, yolov5n_path, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"victim: {yolov5n_path}\ndata: {{train: {inria_dev}}}\n")
    line = config_error(config, tmp_path / "run", "artifact.kind=stickers")
    assert "'artifact.pieces' is required by artifact.kind 'stickers'" in line, line
    line = config_error(config, tmp_path / "run", "artifact.kind=stickers", f"artifact.pieces={STICKERS}",
                        "placement.kind=torso")
    assert "cannot hold artifact.kind 'stickers': use one of in_box" in line, line

