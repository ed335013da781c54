"""The ONNX Runtime victim against the torch model it was exported from: same answers on real images."""

import contextlib
import dataclasses

import pytest
import torch

from patchgen.class_folders import load_class_images
from patchgen.data import read_rgb
from patchgen.errors import UserError
from patchgen.letterbox import letterbox
from patchgen.victims import load_victim
from patchgen.victims.detector import QUERY_CONF
from patchgen.victims.onnx_runtime import Settings, load

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def resnet20(resnet20_path):
    return load_victim(f"cifar_resnet20:{resnet20_path}")


@pytest.fixture(scope="module")
def cifar_images(resnet20, shared_assets, tmp_path_factory):
    """Two holdout images of each CIFAR-10 class, (20,3,32,32) in [0,1]."""
    folder = tmp_path_factory.mktemp("cifar")
    for class_dir in sorted((shared_assets / "data" / "cifar10_test" / "holdout").iterdir()):
        (folder / class_dir.name).mkdir()
        for image in sorted(class_dir.iterdir())[:2]:
            (folder / class_dir.name / image.name).symlink_to(image)
    scenes, _ = load_class_images(folder, resnet20, quiet=True)
    return scenes.images.float() / 255


def export_classifier(victim, path, dynamic: dict):
    torch.onnx.export(victim.model, torch.zeros(1, 3, 32, 32), str(path), dynamo=False, input_names=["images"],
                      output_names=["logits"], dynamic_axes={"images": dynamic})
    return path


def resnet20_settings(victim, **changes) -> Settings:
    return dataclasses.replace(Settings(mean=tuple(victim.mean.flatten().tolist()),
                                        std=tuple(victim.std.flatten().tolist())), **changes)


@pytest.mark.parametrize("dynamic", [{0: "batch"}, {}], ids=["whole-batch", "one-at-a-time"])
def test_classifier_answers_as_the_torch_model(resnet20, cifar_images, tmp_path, dynamic):
    path = export_classifier(resnet20, tmp_path / "resnet20.onnx", dynamic)
    names = tmp_path / "cifar10.txt"
    names.write_text("\n".join(resnet20.names) + "\n")
    victim = load(str(path), resnet20_settings(resnet20, names_file=str(names)))
    assert (victim.family, victim.imgsz, victim.names, victim.batched) == ("classifier", 32, resnet20.names,
                                                                           bool(dynamic))
    probs = victim.query(cifar_images)
    assert probs.shape == (20, 10) and torch.allclose(probs, resnet20.query(cifar_images), atol=1e-4)
    assert (probs.argmax(-1) == torch.arange(10).repeat_interleave(2)).float().mean() >= 0.6  # it classifies
    assert not victim.differentiable and victim.predict(cifar_images)[0].tolist() == probs.argmax(-1).tolist()


def test_names_default_to_indices_and_probabilities_pass_unchanged(resnet20, cifar_images, tmp_path):
    path = export_classifier(resnet20, tmp_path / "resnet20.onnx", {0: "batch"})
    victim = load(str(path), resnet20_settings(resnet20, output="probabilities"))  # logits read as probabilities
    assert victim.names == [str(i) for i in range(10)]
    assert torch.allclose(victim.query(cifar_images), resnet20(cifar_images), atol=1e-4)


class UltralyticsLayout(torch.nn.Module):
    """A detector victim's candidates as Ultralytics exports them: (B, 4+C, N), xywh in input pixels then class
    scores (objectness folded in)."""

    def __init__(self, victim):
        super().__init__()
        self.victim = victim

    def forward(self, images01):
        out = self.victim(images01)
        return torch.cat([out.boxes_xywh, out.confidence()], -1).transpose(1, 2)


def inria_images(inria_holdout, count: int, size: int):
    photos = sorted((inria_holdout / "images").glob("*.jpg"))[:count]
    images = torch.stack([torch.from_numpy(letterbox(read_rgb(p), size).image).permute(2, 0, 1) for p in photos])
    return images.float() / 255


def test_detector_candidates_answer_as_the_torch_model(yolov5n_path, inria_holdout, tmp_path):
    """The trained YOLOv5n in the Ultralytics candidate layout: the same post-NMS detections as patchgen's own."""
    yolov5n = load_victim(yolov5n_path)
    path = tmp_path / "yolov5n.onnx"
    torch.onnx.export(UltralyticsLayout(yolov5n), torch.zeros(1, 3, 160, 160), str(path), dynamo=False,
                      input_names=["images"], dynamic_axes={"images": {0: "batch"}})
    names = tmp_path / "coco.txt"
    names.write_text("\n".join(yolov5n.names))
    victim = load(str(path), Settings(family="detector", names_file=str(names)))
    assert (victim.family, victim.imgsz, victim.names, victim.batched) == ("detector", 160, yolov5n.names, True)
    images = inria_images(inria_holdout, 3, 160)
    answers, expected = victim.query(images), yolov5n.query(images)
    candidates = (yolov5n(images).confidence().amax(-1) > QUERY_CONF).sum(-1)
    for got, want, before_nms in zip(answers, expected, candidates):
        assert 0 < len(got) == len(want) < before_nms  # NMS ran: fewer detections than candidates
        assert torch.allclose(got, want, atol=1e-3)  # boxes in input pixels, scores, classes
    assert all((d[:, 5] == 0).any() for d in answers)  # a person in each INRIA photo


@pytest.fixture(scope="module")
def ultralytics_export(tmp_path_factory):
    """An untrained YOLOv8n exported at 64 px by Ultralytics' own exporter (it writes beside the working folder),
    with class names of its own in the metadata."""
    from ultralytics import YOLO

    folder = tmp_path_factory.mktemp("yolov8n")
    yolo = YOLO("yolov8n.yaml")
    yolo.model.names = {i: f"thing{i}" for i in range(80)}
    with contextlib.chdir(folder):
        return folder / yolo.export(format="onnx", imgsz=64, simplify=False, dynamic=False)


def test_an_ultralytics_export_gives_its_size_and_names(ultralytics_export, inria_holdout):
    victim = load(str(ultralytics_export), Settings(family="detector"))
    assert (victim.imgsz, victim.names[:2], len(victim.names), victim.batched) == (64, ["thing0", "thing1"], 80,
                                                                                   False)
    answers = victim.query(inria_images(inria_holdout, 2, 64))  # one run per image: its batch is fixed at 1
    assert len(answers) == 2 and all(d.shape[1] == 6 for d in answers)


def test_settings_that_contradict_the_model_are_one_line(resnet20, ultralytics_export, tmp_path):
    fixed = export_classifier(resnet20, tmp_path / "fixed.onnx", {0: "batch"})
    any_size = export_classifier(resnet20, tmp_path / "any_size.onnx", {0: "batch", 2: "height", 3: "width"})
    cases = [(fixed, Settings(imgsz=64), r"fixed.onnx takes 32 px images only: set adapter.onnx.imgsz to 0 or 32"),
             (any_size, Settings(), r"any_size.onnx takes images of any size: set adapter.onnx.imgsz"),
             (fixed, Settings(layout="nhwc"), r"takes 32-channel images \(is its layout nchw\?\)"),
             (fixed, Settings(family="detector"), r"output is \(1, 10\), not a detector's candidates"),
             (ultralytics_export, Settings(), r"output is \(1, 84, 84\), not a classifier's logits")]
    for path, settings, message in cases:
        with pytest.raises(UserError, match=message):
            load(str(path), settings)
    names = tmp_path / "three.txt"
    names.write_text("a\nb\nc\n")
    with pytest.raises(UserError, match=r"three.txt gives 3 class names but .* outputs 10 classes"):
        load(str(fixed), Settings(names_file=str(names)))
    with pytest.raises(UserError, match=r"fixed.onnx takes 32 px images, not 40 px"):
        load(str(fixed), Settings()).query(torch.zeros(1, 3, 40, 40))


def test_a_file_that_is_no_model_is_one_line(tmp_path):
    text = tmp_path / "notes.onnx"
    text.write_text("not a model\n")
    with pytest.raises(UserError, match=r"notes.onnx is not an ONNX model \(.*Protobuf parsing failed.*\): "
                                        "check the file"):
        load(str(text), Settings())
    with pytest.raises(UserError, match=r"ONNX model not found: .*missing.onnx"):
        load(str(tmp_path / "missing.onnx"), Settings())
