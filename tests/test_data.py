import numpy as np
import pytest
import torch

from patchgen import eot
from patchgen.data import Scenes, crop_around_targets, load_scenes
from patchgen.errors import UserError
from patchgen.letterbox import letterbox
from patchgen.placements.on_targets import torso
from patchgen.victims import load_victim
from spine_helpers import render_on_targets, two_image_folder


def test_letterbox_maps_boxes_there_and_back():
    boxed = letterbox(np.zeros((300, 500, 3), np.uint8), 320)
    box = np.array([[10.0, 20.0, 400.0, 290.0]])
    assert np.allclose(boxed.to_original(boxed.to_letterboxed(box)), box, atol=1e-4)
    assert boxed.image.shape == (320, 320, 3) and boxed.pad[0] == 0 and boxed.pad[1] > 0


def test_every_target_gets_a_window_that_renders_exactly_like_the_full_image(inria_dev, tmp_path):
    data = two_image_folder(inria_dev, tmp_path / "data")
    scenes, _ = load_scenes(data, 640, [0], quiet=True)
    crops = crop_around_targets(scenes, 320)
    assert crops.images.shape[-2:] == (320, 320)
    assert len(crops) == int(scenes.mask.sum()) > len(scenes), "one window per target"
    white, mask = torch.ones(3, 32, 32), torch.ones(1, 32, 32)
    seen = set()
    for w in range(len(crops)):
        i = scenes.names.index(crops.names[w])
        full_boxes = scenes.boxes[i][scenes.mask[i]]
        window_boxes = crops.boxes[w][crops.mask[w]]
        # the window's offset in its image: the one shift that maps its boxes onto the image's own
        shifts = [b[:2] - window_boxes[0, :2] for b in full_boxes]
        shift = next(s for s in shifts if all((full_boxes - torch.cat([s, s]) - b).abs().sum(1).min() < 1e-4
                                              for b in window_boxes))
        x0, y0 = shift.round().long().tolist()
        assert 0 <= x0 <= 320 and 0 <= y0 <= 320 and torch.allclose(shift, shift.round())
        cx, cy = torso(full_boxes - torch.cat([shift, shift]))
        held = (cx >= 0) & (cx < 320) & (cy >= 0) & (cy < 320)
        assert int(held.sum()) == len(window_boxes), "a window's targets are exactly the torsos it holds"
        seen |= {tuple(round(v, 2) for v in b.tolist()) for b in window_boxes + torch.cat([shift, shift])}
        # the full image with the window's targets renders, over the window, exactly like the window
        only = Scenes(scenes.images[i : i + 1], crops.boxes[w : w + 1] + torch.cat([shift, shift]),
                      crops.mask[w : w + 1], [scenes.names[i]])
        n = crops.mask.shape[1]
        full = render_on_targets(white, mask, only.batch(torch.tensor([0])), eot.identity(n, 32))
        crop = render_on_targets(white, mask, crops.batch(torch.tensor([w])), eot.identity(n, 32))
        assert (full[0, :, y0 : y0 + 320, x0 : x0 + 320] - crop[0]).abs().max() < 1e-4
        assert (crop[0] - crops.images[w].float() / 255).abs().sum() > 0, "its own target's patch is in view"
    assert len(seen) == int(scenes.mask.sum()), "every target is a target of some window"
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
