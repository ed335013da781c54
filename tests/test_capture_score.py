"""`patchgen score` on photos and a video of a printed artifact, end to end through the CLI, with bad input."""

import csv
import json
import shutil

import numpy as np
import pytest

from capture_helpers import exported_peer_patch

from capture.batch import score_inputs
from capture.frames import FrameSource
from capture.media import write_image
from capture.run_artifact import load_run
from patchgen.image_io import read_image
from capture.synthetic import crop_sheet, frame_on_wearer, sheet_from_export, synthesize, tallest_person, \
    write_video
from patchgen import registry, run_dir as run_files
from patchgen.config import RunConfig, from_dict
from patchgen.goals.photo import PhotoEvidence
from patchgen.cli import main
from patchgen.victims import load_victim


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def scene(tmp_path_factory, shared_assets, inria_dev, yolov5n_path):
    """A run exported at 300 mm, three photos (markers, no markers, no artifact), an unreadable file, a video."""
    root = tmp_path_factory.mktemp("score")
    run = root / "run"
    export = exported_peer_patch(run, shared_assets, yolov5n_path)
    sheet, layout = sheet_from_export(export.sidecar)
    gap = -layout["markers"][0]["corners_mm"][2][0]
    bare = crop_sheet(sheet, (-gap / 2, -gap / 2, 300 + gap / 2, 300 + gap / 2))
    rng = np.random.default_rng(5)
    pose = {"yaw_deg": 15.0, "pitch_deg": 5.0, "roll_deg": -5.0, "size_factor": 1.1, "anchor_x": 0.5,
            "anchor_y": 0.35}

    image, box = tallest_person(inria_dev, "crop001504")
    background, _, wearer = frame_on_wearer(image, box, (1920, 1080), fill=0.9)
    photos = {"markers": root / "with_markers.jpg", "bare": root / "no_markers.jpg", "plain": root / "plain.jpg"}
    write_image(photos["markers"], synthesize(background, wearer, sheet, (300, 300), rng, pose=pose).photo)
    write_image(photos["bare"], synthesize(background, wearer, bare, (300, 300), rng, pose=pose).photo)
    write_image(photos["plain"], background)
    broken = root / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")

    image, box = tallest_person(inria_dev, "crop001531")
    background, _, wearer = frame_on_wearer(image, box, (1280, 720), fill=0.9)
    video = root / "turning.avi"
    write_video(video, background, wearer, sheet, (300, 300), frames=9, fps=9, seed=2)
    return {"root": root, "run": run, "photos": photos, "broken": broken, "video": video}


def test_score_photos_writes_report_and_refuses_unreadable(scene, capsys):
    out = scene["root"] / "report"
    photos = scene["photos"]
    inputs = [str(photos["markers"]), str(photos["bare"]), str(photos["plain"])]
    code = main(["score", *inputs, str(scene["broken"]), "--run", str(scene["run"]), "--out", str(out)])
    err = capsys.readouterr().err
    # Unreadable input: one clear line and a non-zero exit before anything is scored; nothing written.
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(
        "patchgen score: error: nothing could be scored: 1 of 4 inputs cannot be read (first: ")
    assert "Traceback" not in err and not out.exists()

    assert main(["score", *inputs, "--run", str(scene["run"]), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    by_name = {p["photo"]: p for p in summary["photos"]}
    assert summary["summary"]["photos"] == 3
    assert by_name["with_markers.jpg"]["location"]["method"] == "markers"
    assert by_name["with_markers.jpg"]["location"]["markers_found"] == [0, 1, 2, 3]
    assert by_name["no_markers.jpg"]["location"]["method"] == "features"
    # The two views of the same printout at the same pose agree on where it is.
    corners = [np.array(by_name[n]["location"]["corners_px"]) for n in ("with_markers.jpg", "no_markers.jpg")]
    assert np.abs(corners[0] - corners[1]).max() < 4.0

    plain = by_name["plain.jpg"]
    assert plain["located"] is False and plain["counterfactual_verdict"] is None
    assert any("artifact not found" in note for note in plain["notes"])
    assert plain["verdict"]["rule"] == "whole-photo"
    assert plain["verdict"]["worked"] is False  # nothing hides the person in a photo without the artifact

    for name in ("with_markers.jpg", "no_markers.jpg"):
        record = by_name[name]
        assert record["counterfactual_verdict"] is not None
        assert record["score_change"] == pytest.approx(
            record["verdict"]["target_score"] - record["counterfactual_verdict"]["target_score"], abs=1e-3)
        assert record["colour"]["delta_e_mean"] is not None
        stem = name.rsplit(".", 1)[0]
        assert read_image(out / "photos" / f"{stem}_counterfactual.jpg").shape[2] == 3
        assert json.loads((out / "photos" / f"{stem}.json").read_text())["verdict"] == record["verdict"]

    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert [r["photo"] for r in rows] == ["with_markers.jpg", "no_markers.jpg", "plain.jpg"]
    page = (out / "report.html").read_text()
    assert "confidence_hist.png" in page
    assert page.count("_annotated.jpg") == 3 and page.count("_counterfactual.jpg") == 2
    assert read_image(out / "confidence_hist.png").shape[0] > 100


def test_score_video_with_stride_draws_timeline(scene, yolov5n_path):
    out = scene["root"] / "video_report"
    victim = load_victim(str(yolov5n_path))
    summary = score_inputs([scene["video"]], load_run(scene["run"]), out, stride=3, victim=victim, log=lambda m: None)
    assert summary["videos"] == 1 and summary["photos"] == 0
    record = json.loads((out / "videos" / "turning.json").read_text())
    frames = record["frames"]
    assert [f["frame"] for f in frames] == [0, 3, 6]
    assert record["summary"]["frames_scored"] == 3 and record["summary"]["expected_frames"] == 9
    assert sum(f["located"] for f in frames) >= 2
    located = [f for f in frames if f["located"]]
    assert all(f["counterfactual_target_score"] is not None for f in located)
    assert read_image(out / "videos" / "turning_timeline.png").shape[1] > 300
    assert len(list(csv.DictReader((out / "videos" / "turning_frames.csv").open()))) == 3
    assert FrameSource(out / "videos" / "turning_annotated.avi").open().expected_frames == 3
    assert "turning_timeline.png" in (out / "report.html").read_text()


def test_truncated_video_is_scored_up_to_where_it_ends(scene, tmp_path):
    data = scene["video"].read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    source = FrameSource(cut).open()
    frames = [index for index, _ in source.frames()]
    assert 0 < len(frames) < 9
    assert source.ended is not None
    assert any("ended early" in event for event in source.events)


def test_missing_run_and_missing_photo_are_one_line_errors(scene, capsys, tmp_path):
    assert main(["score", str(scene["photos"]["plain"]), "--run", str(tmp_path / "nope")]) == 2
    assert f"run directory not found: {tmp_path / 'nope'}" in capsys.readouterr().err
    empty_run = tmp_path / "run"
    shutil.copytree(scene["run"], empty_run)
    (empty_run / run_files.ARTIFACT_PNG).write_bytes(b"garbage")
    assert main(["score", str(scene["photos"]["plain"]), "--run", str(empty_run)]) == 2
    err = capsys.readouterr().err
    assert f"{empty_run / run_files.ARTIFACT_PNG}: not a readable image" in err and "Traceback" not in err
    assert main(["score", str(scene["photos"]["plain"]), "--run", str(scene["run"]), "--stride", "0"]) == 2
    assert "--stride must be >= 1" in capsys.readouterr().err


def goal_on(victim, name, targets=("person",), goal_class=""):
    config = from_dict(RunConfig, {"goal": name, "target_classes": list(targets), "goal_class": goal_class})
    return registry.get("goal", name)(victim, config)


def square_at(x, y, half=10.0):
    return np.array([[x - half, y - half], [x + half, y - half], [x + half, y + half], [x - half, y + half]])


def test_verdict_rules(yolov5n_path):
    """The detector goals' photo rules (patchgen/goals/*.py photo_verdict), on hand-made detections."""
    victim = load_victim(str(yolov5n_path))
    vanish, mislabel = goal_on(victim, "vanish"), goal_on(victim, "mislabel", goal_class="car")
    appear = goal_on(victim, "appear", goal_class="car")
    person, car = 0, 2
    wearer = np.array([100, 100, 200, 400])
    dets = np.array([[102, 98, 198, 405, 0.80, person],   # the wearer, still seen
                     [300, 100, 380, 380, 0.90, person],   # somebody else
                     [110, 150, 190, 250, 0.70, car]])

    def photo(detections, **known):
        return PhotoEvidence(np.asarray(detections, dtype=float), known.pop("counterfactual", None), (640, 480),
                             **known)

    assert not vanish.photo_verdict(photo(dets, wearer_box=wearer)).worked
    assert vanish.photo_verdict(photo(dets[1:], wearer_box=wearer)).worked  # only the bystander is left
    assert vanish.photo_verdict(photo(dets[1:], wearer_box=wearer)).target_score == 0.0
    weak = dets.copy()
    weak[0, 4] = 0.2  # below the threshold: the wearer counts as gone
    assert vanish.photo_verdict(photo(weak, wearer_box=wearer)).worked
    assert not vanish.photo_verdict(photo(weak, wearer_box=wearer, conf=0.1)).worked  # unless the threshold is lower
    assert mislabel.photo_verdict(photo(dets, artifact_corners=square_at(150, 200))).worked
    over = appear.photo_verdict(photo(dets, artifact_corners=square_at(150, 200)))
    assert over.rule == "artifact" and over.worked and over.target_score == pytest.approx(0.7)
    assert not appear.photo_verdict(photo(dets, artifact_corners=square_at(340, 200))).worked
    # Not found: the whole photo, where the wanted outcome is not credited and the unwanted one stays a failure.
    assert vanish.photo_verdict(photo(dets)).rule == "whole-photo"
    assert vanish.photo_verdict(photo(dets)).outcome == "failed"
    assert vanish.photo_verdict(photo(dets[2:])).outcome == "inconclusive"
    # Several target classes (a run hiding both face classes): any of them over the wearer counts.
    both = goal_on(victim, "vanish", targets=("person", "car"))
    assert not both.photo_verdict(photo(dets[1:], wearer_box=np.array([110, 150, 190, 250]))).worked
    assert goal_on(victim, "vanish", targets=("person", "bus")).photo_verdict(
        photo(dets[1:], wearer_box=np.array([110, 150, 190, 250]))).worked
    # The wearer from the counterfactual: the most confident target there containing the artifact's centre.
    seen = vanish.photo_verdict(photo(dets[1:], counterfactual=dets, artifact_corners=square_at(150, 200)))
    assert seen.wearer_source == "counterfactual" and np.allclose(seen.wearer_box, dets[0, :4]) and seen.worked
    nobody = vanish.photo_verdict(photo(dets[1:], counterfactual=dets, artifact_corners=square_at(500, 450)))
    assert nobody.wearer_source == "none" and nobody.outcome == "inconclusive" and "nobody" in nobody.reason
    assert vanish.photo_verdict(photo(dets, wearer_box=wearer, doubt=True)).outcome == "inconclusive"
