"""The demo's parts: its packaged glasses mask is found from any folder and looks like a frame with clear lenses,
and each of its installed images holds one face the clean detector is sure of."""

import shutil

import torch

from patchgen.artifacts.masks import shape_mask
from patchgen.data import load_scenes
from patchgen.demo import DEMO_GLASSES, demo_config, demo_images
from patchgen.victims import load_victim


def test_the_demo_finds_its_glasses_and_images_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = demo_config(tmp_path / "images")
    assert config.artifact.shape == str(DEMO_GLASSES) and DEMO_GLASSES.is_file()
    assert all(path.is_file() for path in demo_images())


def test_the_glasses_are_two_rims_around_clear_lenses():
    mask = shape_mask(str(DEMO_GLASSES), 64)[0] > 0.5
    assert 0.08 < mask.float().mean() < 0.25  # a frame, not a patch over the face
    assert not mask[:16].any() and not mask[-16:].any()  # forehead and mouth stay in view
    middle = mask[32].int()
    pieces = int((middle[1:] - middle[:-1] == 1).sum()) + int(middle[0])
    assert pieces == 4  # across the eyes: outer rim, inner rim, inner rim, outer rim; clear lenses between
    left_lens, right_lens = mask[32, 8:24], mask[32, 40:56]
    assert not left_lens[4:12].any() and not right_lens[4:12].any()


def test_each_demo_image_holds_one_face_the_detector_is_sure_of(tmp_path, one_torch_thread):
    images = tmp_path / "images"
    images.mkdir()
    for path in demo_images():
        shutil.copyfile(path, images / path.name)
    config = demo_config(images)
    victim = load_victim(config.victim, "cpu", config.imgsz)
    class_ids = [victim.class_id(c) for c in config.target_classes]
    scenes, _ = load_scenes(images, config.imgsz, class_ids, victim=victim, labels="pseudo",
                            conf=config.data.pseudo_conf, cache_dir=tmp_path / "cache", quiet=True)
    assert scenes.mask.sum(1).tolist() == [1, 1, 1]
    assert torch.all(scenes.boxes[:, 0, 2:] > scenes.boxes[:, 0, :2])
