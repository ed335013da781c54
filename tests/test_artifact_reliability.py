"""Issue 25, artifacts from files: a mask, a camouflage's reference photo or an `eval --artifact` image that would
give an invisible, stretched, cropped, black, sideways or duplicate-coloured artifact is refused in one line (at
the config check where the config names it) or read as it is meant."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import save_file

from patchgen.artifacts import artifact_from_image
from patchgen.config import load_config
from patchgen.errors import UserError
from patchgen.image_io import read_image
from spine_helpers import two_image_folder
from test_config_and_cli import one_error_line, run_cli, write_config


def save_rgba(path, rgba):
    Image.fromarray(np.asarray(rgba, np.uint8), "RGBA").save(path)
    return path


def config_with(inria_dev, **settings):
    pairs = {"victim": "yolov5n.pt", "data.train": str(inria_dev), **settings}
    return load_config(None, [f"{key}={value}" for key, value in pairs.items()])


def one_opaque_pixel(path):
    rgba = np.zeros((512, 512, 4), np.uint8)
    rgba[256, 256] = 255
    return save_rgba(path, rgba)


def faint_everywhere(path):
    return save_rgba(path, np.full((64, 64, 4), (200, 30, 30, 1)))


@pytest.mark.parametrize("make_mask", [one_opaque_pixel, faint_everywhere])
def test_a_mask_that_vanishes_at_the_artifact_size_is_refused_when_the_config_loads(tmp_path, inria_dev, make_mask):
    mask = make_mask(tmp_path / "mask.png")
    with pytest.raises(UserError) as caught:
        config_with(inria_dev, **{"artifact.shape": mask, "artifact.size": 32})
    message = str(caught.value)
    assert "'artifact.shape'" in message and "invisible" in message and "artifact.size = 32" in message, message


def test_a_wide_mask_trains_and_prints_unstretched(tmp_path, yolov5n_path, inria_dev):
    """A 2:1 mask keeps its 2:1 opaque region in the trained artifact, in patch.png (what export prints) and in
    the exported print itself."""
    rgba = np.full((50, 100, 4), 255, np.uint8)
    rgba[0, 0, 3] = 0  # a mask needs some transparency; one corner pixel fades away at 32 px
    mask = save_rgba(tmp_path / "wide.png", rgba)
    data = two_image_folder(inria_dev, tmp_path / "data")
    config = write_config(tmp_path / "c.yaml", yolov5n_path, data, f"artifact:\n  size: 32\n  shape: {mask}\n")
    result = run_cli("train", config, "--out", tmp_path / "run", "--quiet", "--set", "train.steps=1")
    assert result.returncode == 0, result.stderr
    alpha = np.asarray(Image.open(tmp_path / "run" / "patch.png"))[:, :, 3]
    rows, cols = np.nonzero(alpha >= 128)
    assert alpha.shape == (32, 32)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (8, 23, 0, 31)  # 32 x 16, centred: not stretched
    result = run_cli("export", tmp_path / "run", "--size", "5cm", "--any-size", "--out", tmp_path / "print")
    assert result.returncode == 0, result.stderr
    record = json.loads(next((tmp_path / "print").glob("*.json")).read_text())
    scale, origin = record["png"]["px_per_mm"], record["png"]["origin_mm"]
    side_mm = record["physical_size_mm"][0]
    x0, y0 = (round(-o * scale) for o in origin)  # the artifact's square on the sheet: mm 0..side from its origin
    square = read_image(tmp_path / "print" / record["png"]["path"])[y0 : y0 + round(side_mm * scale),
                                                                    x0 : x0 + round(side_mm * scale)]
    inked = np.nonzero((square < 245).any(-1))  # outside the shape the paper stays white
    height, width = np.ptp(inked[0]) + 1, np.ptp(inked[1]) + 1
    assert width / height == pytest.approx(2, rel=0.05)


@pytest.mark.parametrize(("colours", "photo", "expected"), [
    (4, np.full((1, 1, 3), 90, np.uint8), "only 1 distinct colour "),
    (4, np.repeat(np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8), 16, 1), "only 2 distinct colours"),
])  # fmt: skip
def test_a_reference_photo_with_too_few_colours_is_refused_when_the_config_loads(tmp_path, inria_dev, colours,
                                                                                  photo, expected):
    reference = tmp_path / "reference.png"
    Image.fromarray(photo).save(reference)
    with pytest.raises(UserError) as caught:
        config_with(inria_dev, **{"artifact.kind": "camouflage", "artifact.reference": reference,
                                            "artifact.colours": colours, "artifact.size": 32, "artifact.cell": 4})
    message = str(caught.value)
    assert "'artifact.reference'" in message and expected in message, message
    assert ("lower artifact.colours to 2" in message) == ("2 distinct" in expected)


def test_a_real_photo_gives_a_camouflage_palette(tmp_path, inria_dev):
    reference = next((inria_dev / "images").glob("*.jpg"))
    config = config_with(inria_dev, **{"artifact.kind": "camouflage", "artifact.reference": reference,
                                                 "artifact.colours": 8, "artifact.size": 32, "artifact.cell": 4})
    assert config.artifact.colours == 8


def write_float_tiff(path, rgb):
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]).astype(np.float32))
    return path


def one_pixel(path):
    Image.fromarray(np.full((1, 1, 3), 128, np.uint8)).save(path)


@pytest.mark.parametrize(("name", "make", "expected"), [
    ("one.png", one_pixel, "1 x 1 px is too small for an artifact: it must be at least 8 px per side"),
    ("clear.png", lambda p: save_rgba(p, np.zeros((64, 64, 4))), "invisible as an artifact"),
    ("faint.png", faint_everywhere, "invisible as an artifact"),
    ("dot.png", one_opaque_pixel, "invisible as an artifact"),
    ("hdr.tiff", lambda p: write_float_tiff(p, np.full((16, 16, 3), 200.0)),
     "a floating-point image with values from 200 to 200; patchgen reads float images as 0 (black) to 1 (white)"),
    ("patch.safetensors", lambda p: save_file({"logits": np.zeros((3, 8, 8), np.float32)}, str(p)),
     "a .safetensors file holds tensors (a checkpoint), not an image: pass the run's artifact image"),
])  # fmt: skip
def test_an_artifact_image_that_cannot_attack_is_refused(tmp_path, name, make, expected):
    """What `patchgen eval --artifact` (and capture's published artifact) reads, before any model loads."""
    image = tmp_path / name
    make(image)
    with pytest.raises(UserError) as caught:
        artifact_from_image(image)
    assert expected in str(caught.value), str(caught.value)


def test_eval_with_a_one_pixel_artifact_is_one_line_before_the_victim_loads(tmp_path, yolov5n_path, inria_dev):
    one_pixel(tmp_path / "one.png")
    result = run_cli("eval", "--artifact", tmp_path / "one.png", "--victim", yolov5n_path, "--data", inria_dev,
                     "--out", tmp_path / "out", "--set", "placement.scale=0.2", "--set", "imgsz=320")
    assert "one.png: 1 x 1 px is too small for an artifact" in one_error_line(result)
    assert not (tmp_path / "out").exists()


def test_a_non_square_artifact_image_is_kept_whole(tmp_path):
    """A 4:3 image: every pixel of it in the patch, centred, the margins transparent (no silent crop)."""
    photo = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    patch = artifact_from_image(tmp_path / "photo.png")
    mask = patch.mask[0].numpy()
    assert mask.shape == (64, 64)
    assert mask[8:56].min() == 1 and mask[:8].max() == 0 and mask[56:].max() == 0
    shown = patch().detach().permute(1, 2, 0).numpy()[8:56] * 255
    assert np.abs(shown - photo).max() < 1


def test_a_float_tiff_artifact_reads_as_its_colours(tmp_path):
    rgb = np.random.default_rng(1).random((24, 24, 3))
    patch = artifact_from_image(write_float_tiff(tmp_path / "patch.tiff", rgb))
    shown = patch().detach().permute(1, 2, 0).numpy()
    assert np.abs(shown - rgb).max() < 2 / 255  # not a black patch (0..1 read as 0..1/255)


def test_exif_orientation_turns_alpha_with_the_colours(tmp_path):
    """A phone photo stored sideways with EXIF orientation 6, and a PNG shape likewise: the RGBA read (an artifact,
    a mask) is the RGB read (a scene) plus alpha, the same way up."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show
    stored = np.zeros((20, 40, 4), np.uint8)
    stored[:, :20] = (255, 0, 0, 255)  # the left half red and opaque, the right half black and transparent
    Image.fromarray(stored[:, :, :3]).save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    Image.fromarray(stored).save(tmp_path / "shape.png", exif=exif.tobytes())
    for name in ("phone.jpg", "shape.png"):
        rgb, rgba = read_image(tmp_path / name), read_image(tmp_path / name, keep_alpha=True)
        assert rgb.shape == (40, 20, 3) and rgba.shape == (40, 20, 4)
        assert np.array_equal(rgba[:, :, :3], rgb)
    alpha = read_image(tmp_path / "shape.png", keep_alpha=True)[:, :, 3]
    assert alpha[:20].min() == 255 and alpha[20:].max() == 0  # upright, the opaque half is on top
