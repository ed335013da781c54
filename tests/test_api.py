"""The Python API (patchgen/api.py): README's example as written (the shipped toaster config on four ImageNet
photos); train, evaluate and load on the CIFAR ResNet20 with real CIFAR images, and YOLOv5n on INRIA for a
detector's placement."""

import pytest
import torch

import patchgen
from conftest import REPO
from patchgen.errors import UserError


def readme_example() -> str:
    """README.md's Python example (the ```python block of its "Python API" section), as written."""
    section = (REPO / "README.md").read_text().split("## Python API", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_trains_evaluates_and_applies(shared_assets, tmp_path, monkeypatch, one_torch_thread):
    source = shared_assets / "data" / "imagenet_samples" / "dev"
    rows = (source / "labels.tsv").read_text().splitlines()
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "labels.tsv").write_text("\n".join(rows[:5]) + "\n")
    for row in rows[1:5]:
        name = row.split("\t")[0]
        (tmp_path / "photos" / name).write_bytes((source / name).read_bytes())
    monkeypatch.chdir(tmp_path)
    names = {}
    exec(compile(readme_example(), "README example", "exec"), names)
    run = names["run"]
    assert run.path == tmp_path / "runs" / "toaster" and run.patch.is_file() and run.report.is_file()
    assert [row["step"] for row in run.metrics] == [2] and "adversarial" in run.metrics[0]
    assert run.config.goal_class == "toaster" and run.config.train.steps == 2 and run.config.train.batch == 2
    assert run.artifact.module.mask.shape[-1] == 96 and run.artifact.config.placement.kind == "anywhere"
    assert set(run.results) == {"clean", "noise", "adv"} and "goal_rate" in run.results["adv"]
    assert (run.path / "eval-2" / "report.html").is_file() and (run.path / "eval" / "report.html").is_file()
    assert set(names["table"]) == {"clean", "noise", "adv"}
    patched, images = names["patched"], names["images"]
    assert patched.shape == images.shape and not torch.equal(patched, images)


@pytest.fixture(scope="module")
def cifar_run(resnet20_path, cifar_three_classes, tmp_path_factory, one_torch_thread):
    """A 3-step untargeted patch on the CIFAR ResNet20, trained from a dict config."""
    return patchgen.train({"victim": f"cifar_resnet20:{resnet20_path}", "goal": "untargeted"},
                          out=tmp_path_factory.mktemp("runs") / "cifar", data={"train": cifar_three_classes},
                          artifact={"size": 8}, train={"steps": 3, "batch": 4}, progress=False)


def test_a_folder_and_its_images_as_tensors_evaluate_alike(cifar_run, cifar_three_classes):
    from patchgen.image_io import read_image
    from patchgen.victims.cifar_resnet import CIFAR10_NAMES

    run = cifar_run
    paths = sorted(cifar_three_classes.glob("*/*.jpg"))
    images = torch.stack([torch.from_numpy(read_image(p)).permute(2, 0, 1).float() / 255 for p in paths])
    labels = torch.tensor([CIFAR10_NAMES.index(p.parent.name) for p in paths])
    from_folder = patchgen.evaluate(run.path, cifar_three_classes, out=run.path / "again")
    assert patchgen.evaluate(run, (images, labels)) == from_folder == run.results


def test_apply_pastes_the_artifact_inside_its_place_only_and_replays(cifar_run):
    artifact = patchgen.load(cifar_run.path)
    images = torch.rand(6, 3, 32, 32)
    first = artifact.apply(images, generator=torch.Generator().manual_seed(1))
    again = artifact.apply(images, generator=torch.Generator().manual_seed(1))
    other = artifact.apply(images, generator=torch.Generator().manual_seed(2))
    assert torch.equal(first, again) and not torch.equal(first, other)
    changed = (first != images).any(1)  # (6,32,32)
    area = artifact.config.placement.area * 32 * 32  # anywhere: the patch covers placement.area of the image
    assert ((changed.sum((1, 2)) - area).abs() < 0.35 * area).all()  # edge pixels blend
    ys, xs = changed[0].nonzero().unbind(1)
    assert ys.max() - ys.min() < 16 and xs.max() - xs.min() < 16  # one place, not scattered pixels
    with pytest.raises(UserError, match=r"leave boxes out"):
        artifact.apply(images, boxes=[torch.zeros(0, 4)] * 6)


def test_a_detector_artifact_goes_exactly_on_the_boxes_given(yolov5n_path, inria_dev, tmp_path, one_torch_thread):
    from spine_helpers import two_image_folder

    folder = two_image_folder(inria_dev, tmp_path / "data")
    run = patchgen.train({"victim": str(yolov5n_path), "imgsz": 128}, out=tmp_path / "run", data={"train": folder},
                         artifact={"size": 16}, train={"steps": 2, "batch": 2}, evaluate=False, progress=False)
    assert run.results is None and run.report is None
    artifact = patchgen.load(run.path / "patch.png")  # the PNG with its sidecar
    images = torch.zeros(2, 3, 100, 120)
    boxes = [torch.tensor([[20.0, 10.0, 60.0, 90.0]]), torch.zeros(0, 4)]
    patched = artifact.apply(images, boxes=boxes, generator=torch.Generator().manual_seed(0))
    # on_targets: a square of 0.2 x the box diagonal, centred on the box's x centre at 0.4 of its height
    side = 0.2 * (40**2 + 80**2) ** 0.5
    cx, cy = 40.0, 10 + 0.4 * 80
    top, bottom, left, right = cy - side / 2, cy + side / 2, cx - side / 2, cx + side / 2
    inside = torch.zeros(100, 120, dtype=torch.bool)  # a pixel in from each edge: edge pixels blend
    inside[round(top) + 1: round(bottom) - 1, round(left) + 1: round(right) - 1] = True
    near = torch.zeros(100, 120, dtype=torch.bool)
    near[int(top) - 1: int(bottom) + 2, int(left) - 1: int(right) + 2] = True
    changed = (patched != images).any(1)
    assert changed[0][inside].all() and not changed[0][~near].any()
    assert not changed[1].any()  # no box, no artifact
    with pytest.raises(UserError, match=r"pass boxes=\[\.\.\.\]"):
        artifact.apply(images)
    table = patchgen.evaluate(artifact, (images[:1] + 0.5, [None]), batch=1)  # pseudo-labels from the clean victim
    assert set(table) == {"clean", "noise", "adv"}


def test_mistakes_name_the_python_argument(cifar_run, resnet20_path, tmp_path):
    run = cifar_run
    with pytest.raises(UserError, match=r"pass data=\.\.\. \(a folder of images, or a tensor"):
        patchgen.evaluate(run, None)
    with pytest.raises(UserError, match=r"pass images as a float tensor \(N,3,H,W\)"):
        patchgen.evaluate(run, [1, 2, 3])
    with pytest.raises(UserError, match=r"pass data=\(images, labels\)"):
        patchgen.evaluate(run, torch.rand(2, 3, 32, 32))
    with pytest.raises(UserError, match=r"divide by 255"):
        patchgen.evaluate(run, (torch.rand(2, 3, 32, 32) * 255, torch.tensor([0, 1])))
    with pytest.raises(UserError, match=r"already holds a run: pass resume=True to continue it, or another out="):
        patchgen.train({"victim": f"cifar_resnet20:{resnet20_path}", "goal": "untargeted"}, out=run.path,
                       data={"train": run.config.data.train})
    with pytest.raises(UserError, match=r"data=\{\"train\": FOLDER\}") as raised:
        patchgen.train({"victim": f"cifar_resnet20:{resnet20_path}", "goal": "untargeted"}, out=tmp_path / "r")
    assert "--set" not in str(raised.value)
    published = tmp_path / "published.png"  # a PNG with no sidecar: nothing says what it attacks
    published.write_bytes(run.patch.read_bytes())
    with pytest.raises(UserError, match=r"pass victim=\.\.\."):
        patchgen.evaluate(published, torch.rand(1, 3, 8, 8))
    with pytest.raises(UserError, match=r"pass a run folder, or a patch.png"):
        patchgen.load(tmp_path / "nothing here")
    with pytest.raises(UserError, match=r"pass batch= a whole number"):
        patchgen.evaluate(run, torch.rand(2, 3, 32, 32), batch=0)


def test_import_patchgen_loads_no_torch():
    import subprocess
    import sys

    code = "import sys, patchgen; patchgen.__version__; assert 'torch' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert patchgen.train.__module__ == patchgen.evaluate.__module__ == "patchgen.api"
