import numpy as np
import pytest
import torch

from patchgen.data import read_rgb
from patchgen.errors import UserError
from patchgen.victims import load_victim
from patchgen.victims.detector import xywh_to_xyxy


def iou(a, b):
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_anchor_yolov5n_finds_the_labelled_person(yolov5n_path, inria_holdout):
    victim = load_victim(yolov5n_path)
    image_path = sorted((inria_holdout / "images").glob("*.jpg"))[0]
    rgb = read_rgb(image_path)
    h, w = rgb.shape[:2]
    cx, cy, bw, bh = map(float, (inria_holdout / "labels" / f"{image_path.stem}.txt").read_text().split()[1:5])
    label = [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
    dets = victim.detect_rgb(rgb, conf=0.25)
    people = dets[dets[:, 5] == victim.names.index("person")]
    assert len(people) and max(iou(d[:4], label) for d in people) > 0.5


def test_embedded_face_detector_finds_the_astronaut():
    import skimage.data

    victim = load_victim("nudenet-320n")
    dets = victim.detect_rgb(skimage.data.astronaut(), conf=0.5)
    faces = [d for d in dets if victim.names[int(d[5])].startswith("FACE")]
    assert len(faces) == 1
    x1, y1, x2, y2 = faces[0][:4]
    assert 150 < (x1 + x2) / 2 < 260 and 50 < (y1 + y2) / 2 < 170  # her face, upper middle of the picture


@pytest.mark.parametrize("yaml_name", ["yolov5nu.yaml", "yolov8n.yaml", "yolo11n.yaml"])
def test_every_ultralytics_family_goes_through_one_path(yaml_name):
    victim = load_victim(yaml_name, imgsz=320)
    images = torch.rand(2, 3, 320, 320, requires_grad=True)
    out = victim(images)
    n_candidates = (320 // 8) ** 2 + (320 // 16) ** 2 + (320 // 32) ** 2
    assert out.boxes_xywh.shape == (2, n_candidates, 4)
    assert out.class_scores.shape == (2, n_candidates, 80) and out.objectness is None
    out.confidence()[..., 0].amax().backward()
    assert images.grad.abs().sum() > 0


def test_anchor_family_exposes_objectness(yolov5n_path):
    victim = load_victim(yolov5n_path, imgsz=320)
    out = victim(torch.rand(1, 3, 320, 320))
    assert out.objectness.shape == (1, 3 * ((40 * 40) + (20 * 20) + (10 * 10)))
    conf = out.confidence()
    assert torch.allclose(conf, out.objectness[..., None] * out.class_scores)
    assert torch.equal(xywh_to_xyxy(torch.tensor([[10.0, 20, 4, 6]])), torch.tensor([[8.0, 17, 12, 23]]))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UserError, match="unknown model 'yolo_nonsense'.*nudenet-320n"):
        load_victim("yolo_nonsense")


def test_official_name_offline_says_where_to_put_the_file(monkeypatch, tmp_path):
    from ultralytics.utils import SETTINGS

    monkeypatch.setenv("PATCHGEN_OFFLINE", "1")
    monkeypatch.setitem(SETTINGS, "weights_dir", str(tmp_path))
    with pytest.raises(UserError, match=r"yolov8n\.pt is not on this machine.*put the file at"):
        load_victim("yolov8n.pt")


def test_a_corrupt_checkpoint_is_one_clear_error(tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(UserError, match="broken.pt"):
        load_victim(bad)


def test_an_ultralytics_checkpoint_loads_by_path(tmp_path):
    from ultralytics import YOLO

    path = tmp_path / "my_detector.pt"
    YOLO("yolo11n.yaml").save(path)  # a checkpoint in Ultralytics' own format, made offline
    victim = load_victim(path, imgsz=320)
    assert len(victim.names) == 80 and victim.name == str(path)
    assert victim(torch.rand(1, 3, 320, 320)).class_scores.shape[-1] == 80
