"""`patchgen score` and `patchgen live` on a real trained run: the victim judges photos at the run's own input
size; a score that fails leaves the earlier report byte for byte; the worked rate is over the photos in which the
artifact was found; folders of photos are scored; nothing scored is one line that says why."""

import csv
import hashlib
import json
import shutil

import numpy as np
import pytest

from capture.media import write_image
from capture.synthetic import bare_print, frame_on_wearer, sheet_from_export, synthesize, tallest_person, \
    write_video
from patchgen.cli import main
from patchgen.image_io import read_image
from patchgen.victims import load_victim
from printing.export import export_run
from spine_helpers import two_image_folder
from test_config_and_cli import run_cli, write_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")

POSE = {"yaw_deg": 10.0, "pitch_deg": 0.0, "roll_deg": 0.0, "size_factor": 1.0, "anchor_x": 0.5, "anchor_y": 0.35}


@pytest.fixture(scope="module")
def scene(tmp_path_factory, yolov5n_path, inria_dev):
    """A real two-step run at imgsz 320 (the victim's own is 640), exported at 20 cm; photos of its print (found
    by its markers) on two people, one of a person without it, and a short video of the print."""
    root = tmp_path_factory.mktemp("score_reliability")
    data = two_image_folder(inria_dev, root / "data")
    result = run_cli("train", write_config(root / "c.yaml", yolov5n_path, data), "--out", root / "run", "--quiet",
                     "--no-eval")
    assert result.returncode == 0, result.stderr
    run = root / "run"
    export = export_run(run, "200mm", dpi=100)
    sheet, _ = sheet_from_export(export.sidecar)
    photos = root / "photos"
    photos.mkdir()
    for stem in ("crop001504", "crop001531"):
        image, box = tallest_person(inria_dev, stem)
        background, _, wearer = frame_on_wearer(image, box, (1280, 720), fill=0.9)
        shot = synthesize(background, wearer, sheet, (200, 200), np.random.default_rng(0), pose=POSE, effects=False)
        write_image(photos / f"{stem}_print.jpg", shot.photo, quality=95)
    # Half size: the search for a print that is not there is the slow path.
    write_image(photos / "crop001504_plain.jpg", background[::2, ::2], quality=95)
    video = root / "print.avi"
    write_video(video, background[::2, ::2].copy(), wearer / 2, sheet, (200, 200), frames=2, fps=2)
    return {"root": root, "run": run, "photos": photos, "video": video}


def last_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def best_person_score(victim, photo, imgsz) -> float:
    detections = np.asarray(victim.detect_rgb(read_image(photo), conf=0.05, imgsz=imgsz)).reshape(-1, 6)
    people = detections[detections[:, 5] == 0]
    return float(people[:, 4].max()) if len(people) else 0.0


def test_score_judges_at_the_runs_input_size_unless_told(scene, yolov5n_path, capsys):
    plain = scene["photos"] / "crop001504_plain.jpg"
    victim = load_victim(str(yolov5n_path))
    at_320, at_640 = (best_person_score(victim, plain, size) for size in (320, 640))
    assert abs(at_320 - at_640) > 0.01  # the two sizes give the photo different scores: the test can tell them apart

    out = scene["root"] / "score_imgsz"
    assert main(["score", str(plain), "--run", str(scene["run"]), "--out", str(out)]) == 0
    report = json.loads((out / "summary.json").read_text())
    # Not found, so judged over the whole photo: the verdict's score is the victim's best person at 320.
    assert report["photos"][0]["verdict"]["target_score"] == pytest.approx(at_320, abs=1e-3)
    assert (report["summary"]["imgsz"], report["summary"]["imgsz_from"]) == (320, "the run's config")

    out = scene["root"] / "score_imgsz_640"
    assert main(["score", str(plain), "--run", str(scene["run"]), "--out", str(out), "--imgsz", "640"]) == 0
    report = json.loads((out / "summary.json").read_text())
    assert (report["summary"]["imgsz"], report["summary"]["imgsz_from"]) == (640, "--imgsz")
    assert report["photos"][0]["verdict"]["target_score"] == pytest.approx(at_640, abs=1e-3)
    capsys.readouterr()


def test_live_runs_the_victim_at_the_runs_input_size(scene, tmp_path, capsys):
    base = ["live", "--camera", str(scene["video"]), "--run", str(scene["run"]), "--frames", "1", "--no-window",
            "--no-features", "--snapshots", str(tmp_path)]
    assert main(base) == 0
    assert "victim input size: 320 px (the run's config)" in capsys.readouterr().err
    assert main([*base, "--imgsz", "640"]) == 0
    assert "victim input size: 640 px (--imgsz)" in capsys.readouterr().err


def folder_state(folder):
    """Every file under `folder` (hidden ones included) with its bytes' hash."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_failed_score_leaves_the_earlier_report_byte_identical(scene, capsys):
    out = scene["root"] / "score_kept"
    photo = scene["photos"] / "crop001504_print.jpg"
    assert main(["score", str(photo), "--run", str(scene["run"]), "--out", str(out)]) == 0
    capsys.readouterr()
    before = folder_state(out)
    assert {"summary.json", "scores.csv", "report.html", "photos/crop001504_print.json"} <= before.keys()

    # A report is never replaced: scoring into its folder again is refused, whatever the photos.
    assert main(["score", str(photo), "--run", str(scene["run"]), "--out", str(out)]) == 2
    assert last_line(capsys).startswith(f"patchgen score: error: --out {out} already holds a score report")
    assert folder_state(out) == before

    broken = scene["root"] / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    fresh = scene["root"] / "score_fresh"
    assert main(["score", str(broken), "--run", str(scene["run"]), "--out", str(fresh)]) == 2
    line = last_line(capsys)
    assert line == (f"patchgen score: error: nothing could be scored: {broken}: not a readable image; "
                    f"{fresh} is as it was: fix or leave out what cannot be read")
    assert main(["score", str(photo), str(broken), "--run", str(scene["run"]), "--out", str(fresh)]) == 2
    line = last_line(capsys)
    assert "nothing could be scored: 1 of 2 inputs cannot be read (first: " in line
    # Nothing of the failed commands is left: no folder, nothing beside the report either.
    assert not fresh.exists() and folder_state(out) == before
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith((".score_kept", ".score_fresh"))) == []


def test_the_worked_rate_counts_only_photos_with_the_artifact_found(tmp_path, shared_assets, inria_dev,
                                                                    yolov5n_path, capsys):
    """The Thys et al. patch on a person hides them (worked); the same person without it is seen. That second
    photo says nothing of the patch: it is counted apart, not as a failed attack."""
    peer = shared_assets / "peer_patches" / "thys2019_object_score.png"
    image, box = tallest_person(inria_dev, "crop001504")
    background, _, wearer = frame_on_wearer(image, box, (1280, 720), fill=0.9)
    pose = dict(POSE, yaw_deg=15.0, pitch_deg=5.0, roll_deg=-5.0, size_factor=1.1)
    shot = synthesize(background, wearer, bare_print(read_image(peer, keep_alpha=True), (300, 300)), (300, 300),
                      np.random.default_rng(5), pose=pose)
    with_it, without_it = tmp_path / "with_patch.jpg", tmp_path / "without_patch.jpg"
    write_image(with_it, shot.photo, quality=95)
    write_image(without_it, background[::2, ::2], quality=95)
    out = tmp_path / "score"
    assert main(["score", str(with_it), str(without_it), "--artifact", str(peer), "--victim", str(yolov5n_path),
                 "--size", "30cm", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    report = json.loads((out / "summary.json").read_text())
    outcomes = {p["photo"]: (p["located"], p["verdict"]["outcome"]) for p in report["photos"]}
    assert outcomes == {"with_patch.jpg": (True, "worked"), "without_patch.jpg": (False, "failed")}
    s = report["summary"]
    assert (s["photos"], s["artifact_found"], s["not_found"]) == (2, 1, 1)
    assert (s["attack_worked"], s["attack_failed"], s["inconclusive"], s["attack_worked_rate"]) == (1, 0, 0, 1.0)
    assert "over the photos in which the artifact was found" in s["rates"]
    assert ("photos: attack worked on 100% of those with the artifact found (1 worked, 0 failed, 0 inconclusive); "
            "1 without it found, counted apart") in err
    rows = {r["photo"]: r for r in csv.DictReader((out / "scores.csv").open())}
    assert (rows["with_patch.jpg"]["in_worked_rate"], rows["without_patch.jpg"]["in_worked_rate"]) == \
        ("True", "False")
    page = (out / "report.html").read_text()
    assert "no: artifact not found" in page and "over the photos in which the artifact was found" in page


def test_a_folder_is_scored_file_by_file_and_an_empty_one_is_one_line(scene, capsys):
    folder = scene["root"] / "folder"
    (folder / "later").mkdir(parents=True)
    shutil.copy(scene["photos"] / "crop001531_print.jpg", folder / "b.jpg")
    shutil.copy(scene["photos"] / "crop001504_plain.jpg", folder / "a.jpg")
    shutil.copy(scene["photos"] / "crop001504_print.jpg", folder / "later" / "c.jpg")  # not searched
    (folder / "notes.txt").write_text("not a photo")
    out = scene["root"] / "score_folder"
    assert main(["score", str(folder), "--run", str(scene["run"]), "--out", str(out)]) == 0
    capsys.readouterr()
    report = json.loads((out / "summary.json").read_text())
    assert [p["photo"] for p in report["photos"]] == ["a.jpg", "b.jpg"]
    assert report["photos"][1]["location"]["method"] == "markers"

    empty = scene["root"] / "empty"
    empty.mkdir()
    assert main(["score", str(empty), "--run", str(scene["run"]), "--out", str(out)]) == 2
    assert last_line(capsys) == (
        f"patchgen score: error: {empty}: no photo (.jpg, .png...) or video (.mp4, .avi...) in this folder (its "
        f"subfolders are not searched): give the photos and videos, or the folder that holds them")


def test_an_out_folder_that_is_not_a_report_is_never_overwritten(scene, capsys):
    """A folder of the user's own with a photos/ in it: score would replace photos/, so it refuses."""
    mine = scene["root"] / "mine"
    (mine / "photos").mkdir(parents=True)
    shutil.copy(scene["photos"] / "crop001504_print.jpg", mine / "photos" / "keep.jpg")
    photo = str(mine / "photos" / "keep.jpg")
    assert main(["score", photo, "--run", str(scene["run"]), "--out", str(mine)]) == 2
    assert last_line(capsys) == (f"patchgen score: error: --out {mine} holds photos but no summary.json, so it is "
                                 f"not an earlier score report and those would be replaced: give a new or empty folder")
    assert sorted(p.name for p in (mine / "photos").iterdir()) == ["keep.jpg"]
