"""`patchgen export` prints each artifact at the size its training implies: the placement's scale (recorded in the
run's sidecar as physical_scale, worked out again from the recorded config) times a real size of the target. A
--size far from it is one line that writes nothing unless --any-size; --target-size moves the default."""

import hashlib
import json
import math
import shutil

import numpy as np
import pytest

from conftest import REPO
from spine_helpers import small_config, two_image_folder
from test_printing_stickers import sticker_run
from test_printing_textures import save_run, texture_run

from capture.synthetic import write_run
from patchgen import run_dir as run_files
from patchgen.artifacts.texture import Texture
from patchgen.cli import main
from patchgen.image_io import read_image

REPO_RESULTS = REPO / "benchmarks" / "results"
PERSON_MM = (650.0, 1750.0)  # the default box of a standing person
PERSON_DIAGONAL = math.hypot(*PERSON_MM)


def export(capsys, run, *args):
    """`patchgen export RUN ARGS --no-png`: (exit code, stdout lines, stderr)."""
    code = main(["export", str(run), "--no-png", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.strip()


def only_sidecar(folder):
    (path,) = (folder / run_files.EXPORT).glob("*.json")
    return json.loads(path.read_text())


def folder_digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def peer_patch(shared_assets):
    return read_image(shared_assets / "peer_patches" / "thys2019_object_score.png", keep_alpha=True)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, yolov5n_path, inria_dev, one_torch_thread):
    """A patch really trained (one step) at placement.scale 0.3: training records its physical scale."""
    from patchgen.training import train

    root = tmp_path_factory.mktemp("scale_trained")
    config = small_config(yolov5n_path, two_image_folder(inria_dev, root / "data"),
                          **{"placement.scale": 0.3, "train.steps": 1, "train.batch": 1, "imgsz": 160})
    return train(config, root / "run", progress=False)


@pytest.fixture
def person_patch(tmp_path, peer_patch):
    """A published patch as a run of the default person recipe: on each person, 0.2 of the box diagonal."""
    return write_run(tmp_path / "patch_run", peer_patch, size_mm=None, victim="yolov5n.pt")


def test_a_patch_prints_at_its_trained_share_of_a_person(capsys, trained_run, person_patch):
    assert run_files.read_sidecar(trained_run)["physical_scale"] == {"on": "box", "side_of_diagonal": 0.3}
    assert run_files.read_sidecar(person_patch)["physical_scale"] == {"on": "box", "side_of_diagonal": 0.2}
    sides = {}
    for run, scale in ((trained_run, 0.3), (person_patch, 0.2)):
        code, out, err = export(capsys, run)
        assert code == 0, err
        side = only_sidecar(run)["physical_size_mm"]
        assert side[0] == side[1] == pytest.approx(scale * PERSON_DIAGONAL, abs=0.05)
        assert out[0] == (f"size: {scale * PERSON_DIAGONAL / 10:.1f} cm: {scale:g} of the box diagonal of a standing "
                          f"person (1.87 m: 0.65 x 1.75 m)")
        assert run_files.read_sidecar(run)["physical_size_mm"] == side  # the run's own record of its print
        sides[scale] = side[0]
    assert sides[0.3] / sides[0.2] == pytest.approx(1.5, rel=1e-3)


def test_a_far_size_is_one_line_and_writes_nothing(capsys, person_patch):
    before = folder_digest(person_patch)
    code, out, err = export(capsys, person_patch, "--size", "10cm")
    assert code == 2 and out == [] and "\n" not in err
    assert err == ("patchgen export: error: --size 10cm makes the side 100 mm, 73% under the 373 mm its training "
                   "implies (0.2 of the box diagonal of a standing person (1.87 m: 0.65 x 1.75 m)): drop --size to "
                   "print at 373 mm, give the target's real size with --target-size, or pass --any-size to print at "
                   "100 mm anyway")
    code, _, err = export(capsys, person_patch, "--size", "50cm")  # 34 % over: refused too
    assert code == 2 and "34% over the 373 mm" in err
    assert folder_digest(person_patch) == before


def test_a_size_near_the_trained_one_or_any_size_prints_as_asked(capsys, person_patch):
    code, out, err = export(capsys, person_patch, "--size", "30cm")  # 20 % under: within the tolerance
    assert code == 0, err
    assert out[0].startswith("size: side 300 mm as asked; the training implies 373 mm: 0.2 of the box diagonal")
    code, out, err = export(capsys, person_patch, "--size", "10cm", "--any-size")
    assert code == 0, err
    assert out[0].startswith("size: side 100 mm as asked (--any-size); the training implies 373 mm")
    sizes = sorted(json.loads(p.read_text())["physical_size_mm"][0]
                   for p in (person_patch / run_files.EXPORT).glob("*.json"))
    assert sizes == [100.0, 300.0]
    code, _, err = export(capsys, person_patch, "--any-size")
    assert code == 2 and err == "patchgen export: error: --any-size prints at the --size you give: pass --size too"


def test_target_size_moves_the_default(capsys, person_patch, tmp_path):
    code, out, err = export(capsys, person_patch, "--target-size", "1.9m", "--out", tmp_path / "tall")
    assert code == 0, err
    width = 1900 * PERSON_MM[0] / PERSON_MM[1]  # one length is the height; the width keeps a person's proportion
    (sidecar,) = (tmp_path / "tall").glob("*.json")
    assert json.loads(sidecar.read_text())["physical_size_mm"][0] == pytest.approx(
        0.2 * math.hypot(width, 1900), abs=0.05)
    assert out[0].endswith("0.2 of the box diagonal of a standing person, --target-size 1.9m (2.03 m: 0.71 x 1.90 m)")
    code, out, err = export(capsys, person_patch, "--target-size", "0.5x1.2m", "--out", tmp_path / "given")
    assert code == 0, err
    (sidecar,) = (tmp_path / "given").glob("*.json")
    assert json.loads(sidecar.read_text())["physical_size_mm"][0] == pytest.approx(0.2 * 1300, abs=0.05)
    # what was far from a person's default is near a child's
    code, _, err = export(capsys, person_patch, "--size", "20cm", "--target-size", "0.4x1m", "--out", tmp_path / "c")
    assert code == 0, err
    code, _, err = export(capsys, person_patch, "--target-size", "tall")
    assert code == 2 and "cannot read --target-size 'tall'" in err


def texture_repeat(tile, crop, region, target=PERSON_MM):
    """What the torso placement implies: the crop covered the region; a square tile at the geometric mean."""
    x1, y1, x2, y2 = region
    return tile / crop * math.sqrt((x2 - x1) * target[0] * (y2 - y1) * target[1])


def test_a_textures_default_repeat_follows_its_tile_crop_and_region(capsys, tmp_path, inria_dev):
    photo = sorted((inria_dev / "images").iterdir())[0]
    whole = texture_run(tmp_path / "whole", photo)  # a 64 px tile read whole (crop 0) over the default region
    cropped = save_run(tmp_path / "cropped", Texture(64, crop=32, cell=4),
                       {"kind": "texture", "size": 64, "crop": 32, "cell": 4})
    small_region = [0.3, 0.2, 0.7, 0.4]
    narrow = save_run(tmp_path / "narrow", Texture(64, cell=4), {"kind": "texture", "size": 64, "cell": 4})
    config = run_files.read_sidecar(narrow)
    config["config"]["placement"]["region"] = small_region
    run_files.write_sidecar(narrow, config)
    default_region = (0.15, 0.18, 0.85, 0.55)
    for run, tile, crop, region in ((whole, 64, 64, default_region), (cropped, 64, 32, default_region),
                                    (narrow, 64, 64, small_region)):
        code, out, err = export(capsys, run, "--paper", "A3")
        assert code == 0, err
        assert only_sidecar(run)["repeat_mm"] == pytest.approx(texture_repeat(tile, crop, region), abs=0.05)
        crop_of = f"its {crop} px crop of the" if crop != tile else "its"
        assert out[0].startswith(f"size: repeat {texture_repeat(tile, crop, region) / 10:.1f} cm: {crop_of} {tile} px "
                                 f"tile covered")
    code, _, err = export(capsys, whole, "--size", "10cm", "--out", tmp_path / "far")
    assert code == 2 and "makes the repeat 100 mm, 82% under the 543 mm its training implies" in err
    assert not (tmp_path / "far").exists()


def test_a_committed_run_without_the_key_prints_at_its_trained_repeat(capsys, tmp_path):
    run = tmp_path / "texture"
    shutil.copytree(REPO_RESULTS / "attack_texture" / "texture", run)
    sidecar = run_files.read_sidecar(run)
    sidecar.pop("physical_scale", None)  # as a run recorded before the key existed
    run_files.write_sidecar(run, sidecar)
    code, out, err = export(capsys, run, "--paper", "A3", "--max-pages", "60")
    assert code == 0, err
    assert only_sidecar(run)["repeat_mm"] == pytest.approx(texture_repeat(64, 48, (0.15, 0.18, 0.85, 0.55)), abs=0.05)
    assert out[0].startswith("size: repeat 72.4 cm")


def test_stickers_default_object_is_the_target(capsys, tmp_path, inria_dev):
    run = sticker_run(tmp_path / "stickers", sorted((inria_dev / "images").iterdir()))
    assert run_files.read_sidecar(run)["physical_scale"] == {"on": "box", "piece_sides_of_diagonal": [0.03, 0.05,
                                                                                                       0.02]}
    code, out, err = export(capsys, run)
    assert code == 0, err
    assert only_sidecar(run)["object_size_mm"] == list(PERSON_MM)
    assert out[0] == ("size: object 650 x 1750 mm: the box of a standing person (0.65 x 1.75 m), each sticker its "
                      "share of its diagonal")
    code, _, err = export(capsys, run, "--target-size", "0.5x1.5m", "--out", tmp_path / "smaller")
    assert code == 0, err
    (sidecar,) = (tmp_path / "smaller").glob("*.json")
    assert json.loads(sidecar.read_text())["object_size_mm"] == [500.0, 1500.0]
    code, _, err = export(capsys, run, "--size", "30x80cm", "--out", tmp_path / "far")
    assert code == 2 and "makes the object's diagonal 854 mm, 54% under the 1867 mm" in err
    assert not (tmp_path / "far").exists()


def test_a_classifier_patch_is_a_share_of_its_view_and_an_unknown_target_needs_a_size(capsys, tmp_path, peer_patch):
    circle = peer_patch.copy()
    yy, xx = np.mgrid[: circle.shape[0], : circle.shape[1]]
    r = circle.shape[0] / 2
    circle[..., 3] = np.where((yy + 0.5 - r) ** 2 + (xx + 0.5 - r) ** 2 <= r * r, 255, 0)
    toaster = write_run(tmp_path / "toaster", circle, size_mm=None, victim="mobilenet_v2-imagenet", goal="targeted",
                        target_classes=(), goal_class="toaster")
    assert run_files.read_sidecar(toaster)["physical_scale"] == {"on": "image", "visible_area": 0.1}
    code, out, err = export(capsys, toaster)
    assert code == 0, err
    fill = float(circle[..., 3].mean()) / 255  # its visible part, not its square, covers 0.1 of the view
    assert only_sidecar(toaster)["physical_size_mm"][0] == pytest.approx(500 * math.sqrt(0.1 / fill), abs=0.05)
    assert "its visible part 0.1 of the area of a classifier's view (0.50 x 0.50 m)" in out[0]

    phantom = write_run(tmp_path / "phantom", peer_patch, size_mm=None, victim="yolov5n.pt", goal="appear",
                        goal_class="stop sign")
    code, _, err = export(capsys, phantom)
    assert code == 2 and "a detector's images are scenes of no set size: pass --target-size" in err
    code, _, err = export(capsys, phantom, "--target-size", "4x3m")
    assert code == 0, err
    assert only_sidecar(phantom)["physical_size_mm"][0] == pytest.approx(math.sqrt(0.1 * 4000 * 3000), abs=0.05)

    giraffe = write_run(tmp_path / "giraffe", peer_patch, size_mm=None, victim="yolov5n.pt",
                        target_classes=("giraffe",))
    before = folder_digest(giraffe)
    code, _, err = export(capsys, giraffe)
    assert code == 2 and err == ("patchgen export: error: patchgen has no default size for a 'giraffe' box (it "
                                 "knows person, face, stop sign, car): pass --target-size, the real width x height "
                                 "of the target's box, e.g. --target-size 0.8x1.2m")
    code, _, err = export(capsys, giraffe, "--target-size", "4.5m")
    assert code == 2 and "for a 'giraffe' give width x height" in err
    assert folder_digest(giraffe) == before
    code, out, err = export(capsys, giraffe, "--size", "20cm", "--any-size", "--out", tmp_path / "asked")
    assert code == 0 and out[0] == "size: 20cm as asked (--any-size)", err
    code, _, err = export(capsys, giraffe, "--target-size", "1.5x4.5m")
    assert code == 0, err
