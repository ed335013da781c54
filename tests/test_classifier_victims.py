"""Classifier victims on real weights and real photos: accuracy where it is known, one line for each mistake."""

import copy
import os

import pytest
import torch

from patchgen.artifacts import load_artifact
from patchgen.class_folders import load_class_images
from patchgen.errors import UserError
from patchgen.victim_names import absolute_victim, family_of
from patchgen.victims import ClassifierVictim, DetectorVictim, classifier_from_module, load_victim
from patchgen.victims.cifar_resnet import CIFAR10_NAMES
from patchgen.victims.torchvision_classifier import packaged_mobilenet_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def mobilenet():
    return load_victim("mobilenet_v2-imagenet")


@pytest.fixture(scope="module")
def resnet20(resnet20_path):
    return load_victim(f"cifar_resnet20:{resnet20_path}")


@pytest.fixture(scope="session")
def imagenet_holdout(shared_assets):
    return shared_assets / "data" / "imagenet_samples" / "holdout"


@pytest.fixture(scope="session")
def cifar_holdout(shared_assets):
    return shared_assets / "data" / "cifar10_test" / "holdout"


def imagenet_sample(holdout, folder, count: int):
    """The first `count` rows of the holdout's labels.tsv, as a flat folder of links with its own labels.tsv."""
    folder.mkdir()
    lines = (holdout / "labels.tsv").read_text().splitlines()[: count + 1]
    for line in lines[1:]:
        name = line.split("\t")[0]
        (folder / name).symlink_to(holdout / name)
    (folder / "labels.tsv").write_text("\n".join(lines) + "\n")
    return folder


def cifar_sample(holdout, folder, per_class: int):
    """The first `per_class` images of each class folder, linked into `folder/<class>/`."""
    for class_dir in sorted(holdout.iterdir()):
        (folder / class_dir.name).mkdir(parents=True)
        for image in sorted(class_dir.iterdir())[:per_class]:
            (folder / class_dir.name / image.name).symlink_to(image)
    return folder


def top1(victim, scenes) -> float:
    predicted, probs = victim.predict(scenes.images.float() / 255)
    assert probs.shape == (len(scenes), len(victim.names))
    assert torch.allclose(probs.sum(-1), torch.ones(len(scenes)), atol=1e-4)
    return (predicted == scenes.labels).float().mean().item()


def test_mobilenet_v2_recognises_imagenet_photos(mobilenet, imagenet_holdout, tmp_path):
    scenes, report = load_class_images(imagenet_sample(imagenet_holdout, tmp_path / "sample", 40), mobilenet,
                                       quiet=True)
    assert report.to_dict() == {"images": 40, "skipped": 0, "classes": 40}
    assert scenes.images.shape == (40, 3, 224, 224) and scenes.images.dtype == torch.uint8
    assert torch.equal(scenes.boxes, torch.tensor([[[0.0, 0.0, 224.0, 224.0]]]).repeat(40, 1, 1))
    assert scenes.mask.all() and scenes.mask.shape == (40, 1)
    assert scenes.names[0] == "n01491361_tiger_shark.jpg" and mobilenet.names[int(scenes.labels[0])] == "tiger shark"
    assert top1(mobilenet, scenes) >= 0.7


def test_cifar_resnet20_recognises_cifar_images(resnet20, cifar_holdout, tmp_path):
    scenes, report = load_class_images(cifar_sample(cifar_holdout, tmp_path / "sample", 20), resnet20, quiet=True)
    assert report.to_dict() == {"images": 200, "skipped": 0, "classes": 10}
    assert scenes.images.shape == (200, 3, 32, 32)
    assert scenes.names[0].startswith("airplane/") and torch.equal(scenes.labels[:20], torch.zeros(20).long())
    assert sum(p.numel() for p in resnet20.parameters()) == 269_722  # upstream's 0.27 M
    assert top1(resnet20, scenes) >= 0.65


def test_the_torchvision_form_with_the_packaged_file_is_the_builtin(mobilenet, imagenet_holdout, tmp_path):
    same = load_victim(f"torchvision:mobilenet_v2:{packaged_mobilenet_weights()}")
    scenes, _ = load_class_images(imagenet_sample(imagenet_holdout, tmp_path / "sample", 4), same, quiet=True)
    images = scenes.images.float() / 255
    assert torch.equal(same(images), mobilenet(images))
    assert same.names == mobilenet.names and same.imgsz == 224 and same.family == "classifier"


def test_unknown_architecture_names_the_close_ones():
    with pytest.raises(UserError, match=r"'mobilenetv2' is not a torchvision classification .*close: mobilenet_v2"):
        load_victim("torchvision:mobilenetv2:weights.pth")


def test_weights_that_do_not_fit_say_how(resnet20_path, tmp_path):
    with pytest.raises(UserError, match=r"does not fit resnet18: \d+ missing keys .* first shape mismatch "
                                        r"conv1.weight \(16x3x3x3 in the file vs 64x3x7x7\)"):
        load_victim(f"torchvision:resnet18:{resnet20_path}")
    with pytest.raises(UserError, match=r"does not fit cifar_resnet20: 97 missing keys .* 314 unexpected"):
        load_victim(f"cifar_resnet20:{packaged_mobilenet_weights()}")


def test_files_that_are_no_weights_are_one_line(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    with pytest.raises(UserError, match="is not a weights file"):
        load_victim(f"torchvision:resnet18:{text}")
    pickled = tmp_path / "whole_model.pth"
    torch.save(torch.nn.Linear(2, 2), pickled)
    with pytest.raises(UserError, match=r"pickled torch.nn.modules.linear.Linear; save model.state_dict\(\)"):
        load_victim(f"cifar_resnet20:{pickled}")
    with pytest.raises(UserError, match="weights file not found"):
        load_victim(f"cifar_resnet20:{tmp_path / 'absent.th'}")
    with pytest.raises(UserError, match="depth 18 is not one of 20, 32, 44, 56"):
        load_victim(f"cifar_resnet18:{text}")


def test_a_class_the_model_lacks_lists_its_classes(mobilenet, resnet20):
    assert mobilenet.class_id("tabby") == 281 and mobilenet.class_id("281") == 281 and resnet20.class_id(3) == 3
    with pytest.raises(UserError, match=r"'unicorn' is not one of mobilenet_v2-imagenet's classes \(tench, "
                                        r"goldfish, .* \.\.\. \(1000 classes\)\)"):
        mobilenet.class_id("unicorn")
    with pytest.raises(UserError, match=r"\(airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck\)$"):
        resnet20.class_id(10)
    detector = DetectorVictim(["person", "car"], 640, "two-class")  # the detectors share the lookup
    assert detector.class_id("car") == 1
    with pytest.raises(UserError, match=r"'bus' is not one of two-class's classes \(person, car\)$"):
        detector.class_id("bus")


def test_class_folders_by_name_or_index_and_their_mistakes(resnet20, cifar_holdout, tmp_path):
    folder = cifar_sample(cifar_holdout, tmp_path / "sample", 2)
    (folder / "cat").rename(folder / "3")
    (folder / "dog" / "broken.jpg").write_bytes(b"not a jpeg")
    scenes, report = load_class_images(folder, resnet20, exclude_classes=[0], quiet=True)
    assert report.to_dict() == {"images": 18, "skipped": 1, "classes": 9}
    assert 0 not in scenes.labels.tolist() and scenes.labels.tolist().count(3) == 2
    (folder / "unicorn").mkdir()
    with pytest.raises(UserError, match=r"class folder .*unicorn: class 'unicorn' is not one of .*\(airplane, "):
        load_class_images(folder, resnet20, quiet=True)


def test_labels_tsv_round_trip_and_its_mistakes(resnet20, cifar_holdout, tmp_path):
    by_folder, _ = load_class_images(cifar_sample(cifar_holdout, tmp_path / "classes", 1), resnet20, quiet=True)
    flat = tmp_path / "flat"
    (flat / "images").mkdir(parents=True)
    rows = ["file\tclass_index"]
    for i, name in enumerate(by_folder.names):
        (flat / "images" / f"{i}.jpg").symlink_to(tmp_path / "classes" / name)
        rows.append(f"{i}.jpg\t{int(by_folder.labels[i])}")
    (flat / "labels.tsv").write_text("\n".join(rows) + "\n")
    scenes, report = load_class_images(flat, resnet20, quiet=True)
    assert torch.equal(scenes.images, by_folder.images) and torch.equal(scenes.labels, by_folder.labels)
    assert scenes.names[:2] == ["images/0.jpg", "images/1.jpg"] and report.classes == 10

    (flat / "labels.tsv").write_text("\n".join(rows[:2] + ["gone.jpg\t1"]) + "\n")
    with pytest.raises(UserError, match=r"labels.tsv:3: image 'gone.jpg' not found"):
        load_class_images(flat, resnet20, quiet=True)
    (flat / "labels.tsv").write_text("\n".join(rows[:2] + ["1.jpg\t10"]) + "\n")
    with pytest.raises(UserError, match=r"labels.tsv:3: the class index must be a whole number 0 to 9, found '10'"):
        load_class_images(flat, resnet20, quiet=True)


def test_family_and_absolute_names(resnet20_path, tmp_path, monkeypatch):
    assert family_of("mobilenet_v2-imagenet") == family_of("torchvision:resnet18:w.pth") == "classifier"
    assert family_of("cifar_resnet56:w.th") == "classifier"
    assert family_of("yolov8n.pt") == family_of("nudenet-320n") == family_of("models/best.pt") == "detector"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "best.pt").write_bytes(b"")
    assert absolute_victim("torchvision:resnet18:w/r.pth") == f"torchvision:resnet18:{tmp_path}/w/r.pth"
    assert absolute_victim("cifar_resnet20:~/r.th") == f"cifar_resnet20:{os.path.expanduser('~')}/r.th"
    assert absolute_victim("best.pt") == str(tmp_path / "best.pt")
    for unchanged in ("mobilenet_v2-imagenet", "yolov8n.pt", "nudenet-320n", f"cifar_resnet20:{resnet20_path}"):
        assert absolute_victim(unchanged) == unchanged


def test_built_victims_pass_through_and_bare_modules_are_refused(resnet20):
    assert load_victim(resnet20) is resnet20
    with pytest.raises(TypeError, match="classifier_from_module"):
        load_victim(torch.nn.Linear(3, 2))
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    victim = load_victim(classifier_from_module(module, ["no", "yes"], 8, mean=(0.5,) * 3, std=(0.25,) * 3))
    assert isinstance(victim, ClassifierVictim) and victim.name == "module" and not victim.model.training
    images = torch.rand(2, 3, 8, 8, requires_grad=True)
    victim(images)[:, 1].sum().backward()
    assert images.grad.abs().sum() > 0 and all(p.grad is None for p in module.parameters())
    assert torch.allclose(victim(images), module((images - 0.5) / 0.25))


def test_the_normalisation_moves_with_the_model(resnet20):
    images = torch.rand(3, 3, 32, 32)
    moved = copy.deepcopy(resnet20).to(torch.float64)  # a dtype move stands in for a device move on CPU
    assert moved.mean.dtype == moved.std.dtype == torch.float64
    assert torch.allclose(moved(images.double()).float(), resnet20(images), atol=1e-4)
    assert set(dict(resnet20.named_buffers())) >= {"mean", "std"}


def test_any_module_from_the_python_api_trains_a_classifier_patch(resnet20_path, shared_assets, tmp_path):
    # A bare nn.Module (here the CIFAR ResNet20's own network, as a user's model would be) wrapped once with its
    # names, input size and normalisation: the config is checked against its family, and a short targeted run
    # lowers the goal's loss on a fixed draw.
    from patchgen import eot
    from patchgen.config import load_config
    from patchgen.training import Setup, train

    network = load_victim(f"cifar_resnet20:{resnet20_path}").model
    victim = classifier_from_module(network, list(CIFAR10_NAMES), 32, mean=(0.485, 0.456, 0.406),
                                    std=(0.229, 0.224, 0.225), name="my-resnet")
    data = tmp_path / "data"
    for name in ("airplane", "ship"):
        (data / name).mkdir(parents=True)
        for image in sorted((shared_assets / "data" / "cifar10_test" / "dev" / name).glob("*.jpg"))[:4]:
            (data / name / image.name).write_bytes(image.read_bytes())
    config = load_config(None, [f"data.train={data}", "goal=targeted", "goal_class=cat", "artifact.size=12",
                                "artifact.init=random", "train.steps=15", "train.batch=8", "optimizer.adam.lr=0.3",
                                "loss.weights.tv=0", "loss.weights.nps=0"], victim=victim)
    with pytest.raises(UserError, match="'goal' = 'mislabel' is a detector goal"):
        load_config(None, [f"data.train={data}", "goal=mislabel", "goal_class=cat"], victim=victim)

    def targeted_loss(setup):
        index = torch.arange(len(setup.scenes))
        params = eot.sample(len(index), torch.Generator().manual_seed(5), config.eot, 12)
        with torch.no_grad():
            return setup.step_loss(index, params)[1]["adversarial"].item()

    before = targeted_loss(Setup(config, quiet=True, victim=victim))
    run = train(config, tmp_path / "run", progress=False, victim=victim)
    setup = Setup(config, quiet=True, victim=victim)
    setup.artifact.load_state_dict(load_artifact(run).state_dict())
    assert targeted_loss(setup) < before - 1.0
