import numpy as np
import pytest
import torch

from patchgen import eot
from patchgen.data import crop_around_targets, load_scenes
from patchgen.errors import UserError
from patchgen.letterbox import letterbox
from patchgen.victims import load_victim
from spine_helpers import render_on_targets, two_image_folder


def test_letterbox_maps_boxes_there_and_back():
    boxed = letterbox(np.zeros((300, 500, 3), np.uint8), 320)
    box = np.array([[10.0, 20.0, 400.0, 290.0]])
    assert np.allclose(boxed.to_original(boxed.to_letterboxed(box)), box, atol=1e-4)
    assert boxed.image.shape == (320, 320, 3) and boxed.pad[0] == 0 and boxed.pad[1] > 0


def test_a_crop_renders_exactly_like_its_window_of_the_full_image(inria_dev, tmp_path):
    data = two_image_folder(inria_dev, tmp_path / "data")
    scenes, _ = load_scenes(data, 640, [0], quiet=True)
    crops = crop_around_targets(scenes, 320)
    assert crops.images.shape[-2:] == (320, 320)
    white, mask = torch.ones(3, 32, 32), torch.ones(1, 32, 32)
    n = scenes.mask.shape[1]
    for i in range(len(scenes)):
        index = torch.tensor([i])
        full = render_on_targets(white, mask, scenes.batch(index), eot.identity(n, 32))
        crop = render_on_targets(white, mask, crops.batch(index), eot.identity(n, 32))
        x0, y0 = (scenes.boxes[i, 0, :2] - crops.boxes[i, 0, :2]).round().long().tolist()
        assert 0 <= x0 <= 320 and 0 <= y0 <= 320
        assert (full[0, :, y0 : y0 + 320, x0 : x0 + 320] - crop[0]).abs().max() < 1e-4
        assert (crop[0] - crops.images[i].float() / 255).abs().sum() > 0, "the largest target's patch is in view"
    with pytest.raises(UserError, match="data.crop"):
        crop_around_targets(scenes, 100)


def test_pseudo_labels_are_made_once_and_cached(yolov5n_path, inria_dev, tmp_path, monkeypatch):
    data = two_image_folder(inria_dev, tmp_path / "data")
    for label in (data / "labels").iterdir():
        label.unlink()
    victim = load_victim(yolov5n_path, imgsz=320)
    first, report = load_scenes(data, 320, [0], victim=victim, labels="auto", cache_dir=tmp_path / "cache",
                                quiet=True)
    assert report.label_source == "pseudo" and report.targets >= 2
    assert len(list((tmp_path / "cache" / "pseudo_labels").glob("*.json"))) == 1

    def no_detection(*args, **kwargs):
        raise AssertionError("the cache must answer")

    monkeypatch.setattr(victim, "detect_rgb", no_detection)
    again, _ = load_scenes(data, 320, [0], victim=victim, labels="pseudo", cache_dir=tmp_path / "cache", quiet=True)
    assert torch.equal(first.boxes, again.boxes)
