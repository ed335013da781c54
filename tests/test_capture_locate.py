"""capture/: finding the printed artifact (markers, then features), rectifying it, its colours, the counterfactual.

Synthetic photos: the printout exactly as `patchgen export` renders it, warped onto a real INRIA person."""

import re

import numpy as np
import pytest

from capture.colour_fidelity import colour_fidelity
from capture.counterfactual import counterfactual
from capture.appearance import Appearance
from capture.locate import locate_artifact, locate_by_markers
from capture.location import Location
from patchgen.image_io import read_image
from capture.rectify import artifact_mask_in_photo, rectify
from capture.run_artifact import load_run
from capture.synthetic import crop_sheet, frame_on_wearer, random_pose, sheet_from_export, synthesize, \
    tallest_person, write_run
from printing.export import export_run
from printing.markers import detect_markers

STEMS = ["crop001504", "crop001511", "crop001521", "crop001531"]


@pytest.fixture(scope="module")
def exported_run(tmp_path_factory, shared_assets):
    run = tmp_path_factory.mktemp("run")
    patch = read_image(shared_assets / "peer_patches" / "thys2019_object_score.png", keep_alpha=True)
    write_run(run, patch, victim=str(shared_assets / "models" / "yolov5n_coco_state_dict_fp16.pt"))
    export = export_run(run, "300mm", dpi=100)
    sheet, layout = sheet_from_export(export.sidecar)
    return load_run(run), sheet, layout


def scenes(inria_dev, rng):
    for stem in STEMS:
        image, box = tallest_person(inria_dev, stem)
        background, _, wearer = frame_on_wearer(image, box, (1920, 1080), fill=rng.uniform(0.75, 0.95))
        yield background, wearer


def test_run_with_export_carries_layout_and_size(exported_run):
    artifact, _, layout = exported_run
    assert [e.layout for e in artifact.exports] == [layout]
    assert artifact.size_mm == (300.0, 300.0) and artifact.size_known
    assert artifact.goal == "vanish" and artifact.target_classes == ("person",) and artifact.goal_class == ""
    assert artifact.judged_classes == artifact.wearer_classes == ("person",)


def test_marker_corners_within_2px_at_1080p(exported_run, inria_dev):
    artifact, sheet, _ = exported_run
    rng = np.random.default_rng(0)
    squared, found, located = [], 0, 0
    for background, wearer in scenes(inria_dev, rng):
        shot = synthesize(background, wearer, sheet, artifact.size_mm, rng)
        assert shot.photo.shape == (1080, 1920, 3)
        detected = detect_markers(shot.photo)
        for marker_id, truth in shot.marker_corners_px.items():
            if marker_id in detected:
                found += 1
                squared.append(((detected[marker_id] - truth) ** 2).sum(axis=1))
        if locate_by_markers(shot.photo, artifact, detected) is not None:
            located += 1
        # With markers missing, the found ones are fitted together with the artifact's features.
        location = locate_artifact(shot.photo, artifact)
        assert location is not None and location.method.startswith("markers") == (len(detected) >= 2)
        assert np.sqrt(((location.corners_px - shot.artifact_corners_px) ** 2).sum(1).mean()) < 2.0
    assert found >= 10, f"only {found} of 16 markers found"
    assert located >= 3
    assert np.sqrt(np.concatenate(squared).mean()) < 2.0


def test_markerless_printout_found_by_its_features(exported_run, inria_dev):
    artifact, sheet, layout = exported_run
    gap = -layout["markers"][0]["corners_mm"][2][0]
    w, h = artifact.size_mm
    bare = crop_sheet(sheet, (-gap / 2, -gap / 2, w + gap / 2, h + gap / 2))
    appearance = Appearance(artifact)
    rng = np.random.default_rng(1)
    errors = []
    for background, wearer in scenes(inria_dev, rng):
        shot = synthesize(background, wearer, bare, artifact.size_mm, rng, pose=dict(random_pose(rng)))
        assert detect_markers(shot.photo) == {}  # the markers really are gone
        location = locate_artifact(shot.photo, artifact, appearance)
        assert location is not None and location.method == "features"
        errors.append(np.sqrt(((location.corners_px - shot.artifact_corners_px) ** 2).sum(1).mean()))
    assert np.median(errors) < 3.0, errors


def test_photo_without_the_artifact_is_not_located(exported_run, inria_dev):
    artifact, _, _ = exported_run
    image, _ = tallest_person(inria_dev, STEMS[0])
    assert locate_artifact(image, artifact) is None


def test_rectified_colours_match_until_the_light_changes(exported_run, inria_dev):
    artifact, sheet, _ = exported_run
    rng = np.random.default_rng(2)
    background, wearer = next(scenes(inria_dev, rng))
    pose = {"yaw_deg": 20.0, "pitch_deg": -10.0, "roll_deg": 5.0, "size_factor": 1.2, "anchor_x": 0.5,
            "anchor_y": 0.35}
    clean = synthesize(background, wearer, sheet, artifact.size_mm, rng, pose=pose, effects=False)
    location = locate_artifact(clean.photo, artifact)
    assert location is not None and location.method == "markers"
    faithful = colour_fidelity(rectify(clean.photo, location, artifact), artifact.rgb, artifact.mask)
    # A 50% darker, bluish print: same geometry, very different colours.
    cast = clean.photo.astype(np.float32)
    mask = artifact_mask_in_photo(location, artifact, cast.shape)
    cast[mask] *= np.array([0.45, 0.5, 0.65], dtype=np.float32)
    cast = cast.round().astype(np.uint8)
    shifted = colour_fidelity(rectify(cast, location, artifact), artifact.rgb, artifact.mask)
    assert faithful["delta_e_mean"] < 4.0
    assert faithful["structure_correlation"] > 0.9
    # The same photo read through a wrong homography (half an artifact off): not this artifact any more.
    wrong = Location("markers", location.mm_to_photo @ np.array([[1, 0, 150.0], [0, 1, 90.0], [0, 0, 1]]),
                     location.corners_px)
    assert colour_fidelity(rectify(clean.photo, wrong, artifact), artifact.rgb, artifact.mask)[
        "structure_correlation"] < 0.4
    assert shifted["delta_e_mean"] > faithful["delta_e_mean"] + 8.0
    # Most of that error is one global gain per channel (exposure and white balance).
    assert shifted["delta_e_mean_gain_corrected"] < 0.6 * shifted["delta_e_mean"]


def test_counterfactual_paints_over_the_artifact_only(exported_run, inria_dev):
    artifact, sheet, _ = exported_run
    rng = np.random.default_rng(3)
    background, wearer = next(scenes(inria_dev, rng))
    shot = synthesize(background, wearer, sheet, artifact.size_mm, rng, effects=False)
    location = locate_artifact(shot.photo, artifact)
    mask = artifact_mask_in_photo(location, artifact, shot.photo.shape)
    grey = counterfactual(shot.photo, location, artifact, "grey")
    noise = counterfactual(shot.photo, location, artifact, "random", np.random.default_rng(0))
    assert np.array_equal(grey[~mask], shot.photo[~mask])
    assert np.abs(grey[mask].astype(int) - 127).max() <= 1
    assert noise[mask].std() > 50  # uniform random colours
    assert mask.sum() == pytest.approx(cv2_area(location.corners_px), rel=0.05)


def cv2_area(quad):
    import cv2

    return abs(cv2.contourArea(quad.astype(np.float32)))


def test_run_sidecar_variants(tmp_path, shared_assets):
    from patchgen import run_dir as run_files
    from patchgen.errors import UserError

    patch = read_image(shared_assets / "peer_patches" / "thys2019_object_score.png", keep_alpha=True)
    # The spine's sidecar for a run hiding both face classes of a named victim, never exported.
    run = write_run(tmp_path / "run", patch, victim="nudenet-320n", size_mm=None,
                    target_classes=("FACE_FEMALE", "FACE_MALE"))
    artifact = load_run(run)
    assert artifact.target_classes == ("FACE_FEMALE", "FACE_MALE") and artifact.victim == "nudenet-320n"
    assert artifact.exports == () and not artifact.size_known
    assert artifact.size_mm == (300.0, 300.0)  # 1 mm per pixel, said so
    assert locate_by_markers(patch[:, :, :3], artifact) is None  # no layout: nothing to look for

    # Mislabel and appear are judged by their goal class; appear has no wearer.
    mislabel = load_run(write_run(tmp_path / "mislabel", patch, goal="mislabel", goal_class="dog"))
    assert (mislabel.judged_classes, mislabel.wearer_classes, mislabel.attack) == \
        (("dog",), ("person",), "mislabel person as dog")
    appear = load_run(write_run(tmp_path / "appear", patch, goal="appear", goal_class="car"))
    assert (appear.judged_classes, appear.wearer_classes, appear.attack) == (("car",), None, "appear car")
    # A classifier's goals: targeted judged by its goal class, untargeted by the photo's true class; no wearer.
    toaster = load_run(write_run(tmp_path / "toaster", patch, goal="targeted", goal_class="toaster"))
    assert (toaster.judged_classes, toaster.wearer_classes, toaster.attack) == (("toaster",), None, "targeted toaster")
    untargeted = load_run(write_run(tmp_path / "untargeted", patch, goal="untargeted", target_classes=()))
    assert (untargeted.judged_classes, untargeted.wearer_classes, untargeted.attack) == ((), None, "untargeted")

    sidecar = run_files.read_sidecar(run)
    for changes, message in (
            ({"goal": "disappear"}, "goal 'disappear' is not one of vanish, mislabel, appear, untargeted, targeted"),
            ({"goal": "mislabel", "goal_class": ""}, "goal 'mislabel' needs a goal_class"),
            ({"target_classes": "person"}, "target_classes must be a list of class names, got 'person'"),
            ({"physical_size_mm": 300}, "physical_size_mm must be [width, height] in mm, got 300"),
            ({"target_classes": []}, "target_classes must be a list of class names, got []")):
        run_files.write_sidecar(run, {**sidecar, **changes})
        with pytest.raises(UserError, match=re.escape(message)):
            load_run(run)
    run_files.write_sidecar(run, {key: value for key, value in sidecar.items() if key != "goal"})
    with pytest.raises(UserError, match="has no goal: not an artifact sidecar `patchgen train` wrote"):
        load_run(run)
    (run / run_files.SIDECAR).write_text("{not json")
    with pytest.raises(UserError, match="is not valid JSON"):
        load_run(run)
