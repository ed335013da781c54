"""Issue 11 item 7: prints without markers (or with them out of view) are found by their own image, a smooth
patch (too few keypoints) and a texture's sheet of repeats (every tile alike) included; and `patchgen live` judges
a frame as `patchgen score` judges the photo.

The smooth artifact is a real photo (the Thys et al. patch) shrunk and blurred as total variation leaves a trained
patch; the texture's tile is a real INRIA crop low-passed in the Fourier domain, which makes it seamless."""

import json
import shutil

import cv2
import numpy as np
import pytest

from capture.appearance import Appearance
from capture.frames import FrameSource
from capture.live import LiveDemo
from capture.locate import locate_artifact
from capture.media import write_image
from capture.run_artifact import load_run
from capture.synthetic import bare_print, frame_on_wearer, random_pose, synthesize, tallest_person, write_run
from patchgen import run_dir as run_files
from patchgen.cli import main
from patchgen.errors import UserError
from patchgen.image_io import read_image
from patchgen.victims import load_victim
from printing.markers import detect_markers
from printing.texture_export import export_texture

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STEMS = ["crop001504", "crop001521"]


def smooth_patch(shared_assets) -> np.ndarray:
    peer = read_image(shared_assets / "peer_patches" / "thys2019_object_score.png", keep_alpha=True)
    smooth = cv2.GaussianBlur(cv2.resize(peer, (64, 64), interpolation=cv2.INTER_AREA), (0, 0), 2.5)
    smooth[:, :, 3] = 255
    return smooth


def seamless_tile(inria_dev, side=64) -> np.ndarray:
    """A real crop, low-passed through the FFT: a circular filter, so the tile's edges meet."""
    image = read_image(inria_dev / "images" / "crop001520.jpg")
    crop = cv2.resize(image[:200, :200], (side, side), interpolation=cv2.INTER_AREA).astype(np.float64)
    f = np.fft.fftfreq(side)
    low = np.exp(-(np.hypot(*np.meshgrid(f, f)) / 0.08) ** 2)[..., None]
    tile = np.real(np.fft.ifft2(np.fft.fft2(crop, axes=(0, 1)) * low, axes=(0, 1)))
    tile = (tile - tile.mean(axis=(0, 1))) * 2.0 + 128  # the blur took the contrast; give some back
    return np.dstack([tile.clip(0, 255).round().astype(np.uint8), np.full((side, side), 255, np.uint8)])


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shared_assets, inria_dev, yolov5n_path):
    root = tmp_path_factory.mktemp("markerless")
    smooth = load_run(write_run(root / "smooth", smooth_patch(shared_assets), victim=str(yolov5n_path)))
    texture_run = write_run(root / "texture", seamless_tile(inria_dev), size_mm=None, victim=str(yolov5n_path))
    sidecar = run_files.read_sidecar(texture_run)
    run_files.write_sidecar(texture_run, {**sidecar, "artifact": "texture"})
    export_texture(texture_run, "8cm", dpi=150, write_png=False)
    return {"root": root, "smooth": smooth, "texture_run": texture_run, "texture": load_run(texture_run)}


def photos(artifact, inria_dev, seed, scale=0.2, margin_mm=10.0):
    """The artifact printed alone (no markers, paper around it) on two people at random poses and effects."""
    rng = np.random.default_rng(seed)
    sheet = bare_print(artifact.image_rgba, artifact.size_mm, margin_mm=margin_mm)
    for stem in STEMS:
        image, box = tallest_person(inria_dev, stem)
        background, _, wearer = frame_on_wearer(image, box, (1920, 1080), fill=rng.uniform(0.75, 0.95))
        yield synthesize(background, wearer, sheet, artifact.size_mm, rng, pose=random_pose(rng),
                         artifact_scale=scale)


def corner_rmse(location, shot) -> float:
    return float(np.sqrt(((location.corners_px - shot.artifact_corners_px) ** 2).sum(axis=1).mean()))


def test_a_smooth_patch_without_markers_is_found_by_the_search(runs, inria_dev):
    artifact = runs["smooth"]
    appearance = Appearance(artifact)
    for shot in photos(artifact, inria_dev, seed=1):
        assert detect_markers(shot.photo) == {}
        location = locate_artifact(shot.photo, artifact, appearance)
        # Too smooth for keypoints to hold (12 on the whole artifact): found by the search.
        assert location is not None and location.method == "features" and location.seed == "search"
        assert corner_rmse(location, shot) < 1.5
        assert location.correlation > 0.95


def test_a_photo_without_the_print_is_not_located(runs, inria_dev):
    image, box = tallest_person(inria_dev, STEMS[0])
    background, _, _ = frame_on_wearer(image, box, (1920, 1080), fill=0.85)
    assert locate_artifact(background, runs["smooth"]) is None
    # A smooth tile of 20 px repeats fits smooth parts of a scene at about 0.9: where two places fit alike the
    # locator says so (doubt), and the photo is not judged, as if nothing were found.
    found = locate_artifact(background, runs["texture"])
    assert found is None or found.doubt


def test_a_texture_run_is_its_exported_sheet_of_repeats(runs):
    texture = runs["texture"]
    sidecar = json.loads(next((runs["texture_run"] / run_files.EXPORT).glob("*.json")).read_text())
    assert texture.period_mm == (80.0, 80.0) and texture.size_known
    # The sheet's markers (tests/test_sheet_markers.py): its layout's frame is the tiling, the artifact's.
    assert [e.marker_ids for e in texture.exports] == [(46, 47, 48, 49)]
    assert tuple(texture.exports[0].layout["artifact_size_mm"]) == texture.size_mm
    assert texture.size_mm == tuple(sidecar["pdf"]["pattern_mm"])
    tile = read_image(runs["texture_run"] / run_files.ARTIFACT_PNG, keep_alpha=True)
    h, w = texture.image_rgba.shape[:2]
    # 80 mm of 64 tile pixels: the sheet is the tile repeated, cut where the pattern ends (not on a whole repeat).
    assert (w, h) == tuple(round(v / 80.0 * 64) for v in texture.size_mm)
    assert np.array_equal(texture.image_rgba[64:128, :64], tile)  # the second repeat down


def test_a_texture_sheet_is_found_and_never_one_repeat_off(runs, inria_dev):
    texture = runs["texture"]
    appearance = Appearance(texture)
    for shot in photos(texture, inria_dev, seed=2, scale=0.2 * max(texture.size_mm) / 300, margin_mm=5.0):
        location = locate_artifact(shot.photo, texture, appearance)
        assert location is not None and location.method == "features"
        assert corner_rmse(location, shot) < 1.0  # one repeat off would be ~60 px
        # Started one repeat to the right and one down, the sheet's edges pull it back where it is.
        off = shot.mm_to_photo @ np.array([[1, 0, 80.0], [0, 1, 80.0], [0, 0, 1]])
        back = appearance.best_shift(shot.photo, off)
        assert np.abs(back / back[2, 2] - shot.mm_to_photo / shot.mm_to_photo[2, 2]).max() < 1e-6


def test_live_judges_a_frame_as_score_judges_the_photo(runs, inria_dev, yolov5n_path, tmp_path, capsys):
    """One photo of the smooth print without markers: `patchgen score` on it, and the live loop on it as a frame."""
    artifact = runs["smooth"]
    shot = next(photos(artifact, inria_dev, seed=3))
    photo = tmp_path / "frame.png"  # lossless: live reads the very pixels score reads
    write_image(photo, shot.photo)
    out = tmp_path / "score"
    assert main(["score", str(photo), "--run", str(artifact.run_dir), "--out", str(out)]) == 0, \
        capsys.readouterr().err
    (scored,) = json.loads((out / "summary.json").read_text())["photos"]

    # The demo as `patchgen live --camera frame.png` makes it; the frame is handed to it as its loop would.
    demo = LiveDemo(FrameSource(photo), load_victim(str(yolov5n_path)), load_run(artifact.run_dir),
                    log=lambda m: None)
    demo.process(read_image(photo))
    live = demo.last_score.to_dict(demo.victim.names)
    assert live["location"]["method"] == scored["location"]["method"] == "features"
    assert np.abs(np.array(live["location"]["corners_px"]) - scored["location"]["corners_px"]).max() < 0.5
    assert live["wearer_source"] == scored["wearer_source"] == "counterfactual"
    for key in ("verdict", "counterfactual_verdict"):
        for field in ("outcome", "rule", "reason"):
            assert live[key][field] == scored[key][field]
        assert live[key]["target_score"] == pytest.approx(scored[key]["target_score"], abs=0.01)


def test_which_texture_sheet_the_photos_show(runs, tmp_path):
    """Two sheets of different repeats: nothing in a photo says which (no markers), so --export must; a texture
    never exported is one repeat of unknown size."""
    run = tmp_path / "texture"
    shutil.copytree(runs["texture_run"], run)
    export_texture(run, "5cm", dpi=150, write_png=False)
    with pytest.raises(UserError, match=r"has 2 texture exports of different repeats or sizes \(texture_50mm_a4, "
                                        r"texture_80mm_a4\): say which sheet the photos show with --export NAME"):
        load_run(run)
    assert load_run(run, export="texture_50mm_a4").period_mm == (50.0, 50.0)
    with pytest.raises(UserError, match="--export texture_1mm_a4: no such export"):
        load_run(run, export="texture_1mm_a4")
    shutil.rmtree(run / run_files.EXPORT)
    bare = load_run(run)
    assert bare.image_rgba.shape == (64, 64, 4) and bare.period_mm == bare.size_mm == (64.0, 64.0)
    assert not bare.size_known
