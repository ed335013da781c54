"""Issue 9, `patchgen score` and `patchgen live`: a photo is read with the layout of the print it shows (a run holds
several exports), a photo with nothing to judge is inconclusive (never "the attack worked"), and a bad port, a port
in use or ffmpeg's own log lines never reach the user as more than patchgen's one line."""

import json
import os
import shutil
import socket
import subprocess
import sys

import cv2
import numpy as np
import pytest

from capture.annotate import WORKED
from capture.frames import FrameSource
from capture.live import LiveDemo
from capture.media import write_image
from capture.run_artifact import load_run
from capture.synthetic import frame_on_wearer, sheet_from_export, synthesize, tallest_person, write_run, write_video
from patchgen import run_dir as run_files
from patchgen.cli import main
from patchgen.image_io import read_image
from patchgen.victims import load_victim
from printing.export import export_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

POSE = {"yaw_deg": 15.0, "pitch_deg": 5.0, "roll_deg": -5.0, "size_factor": 1.1, "anchor_x": 0.5, "anchor_y": 0.35}
BIG, SMALL = "patch_300x300mm_a4", "patch_80x80mm_a4"


def new_run(path, shared_assets, victim):
    patch = read_image(shared_assets / "peer_patches" / "thys2019_object_score.png", keep_alpha=True)
    return write_run(path, patch, victim=str(victim))


@pytest.fixture(scope="module")
def scene(tmp_path_factory, shared_assets, inria_dev, yolov5n_path):
    root = tmp_path_factory.mktemp("reliability")
    # A run printed at 30 cm, then at 8 cm: the photos show the 8 cm print.
    run = new_run(root / "run", shared_assets, yolov5n_path)
    export_run(run, "300mm", dpi=100, write_png=True)
    export_run(run, "80mm", dpi=150, write_png=True)
    # A run exported before each export had its own ids: both of its exports use ids 0-3.
    legacy = new_run(root / "legacy", shared_assets, yolov5n_path)
    export_run(legacy, "80mm", dpi=150, out_dir=root / "aside")  # not yet the run's: ids 0-3
    export_run(legacy, "300mm", dpi=100)  # ids 0-3 again
    for made in (root / "aside").iterdir():
        shutil.move(made, legacy / run_files.EXPORT / made.name)
    assert [[m["id"] for m in json.loads(path.read_text())["marker_layout"]["markers"]]
            for path in sorted((legacy / run_files.EXPORT).glob("*.json"))] == [[0, 1, 2, 3]] * 2

    image, box = tallest_person(inria_dev, "crop001504")
    background, _, wearer = frame_on_wearer(image, box, (1920, 1080), fill=0.9)
    shots = {}
    for name, folder in (("small", run), ("legacy_small", legacy), ("legacy_big", legacy)):
        export = BIG if name == "legacy_big" else SMALL
        sheet, _ = sheet_from_export(folder / run_files.EXPORT / f"{export}.json")
        shot = synthesize(background, wearer, sheet, (80, 80) if export == SMALL else (300, 300),
                          np.random.default_rng(5), pose=POSE)
        shots[name] = shot
        write_image(root / f"{name}.jpg", shot.photo, quality=95)
    return {"root": root, "run": run, "legacy": legacy, "shots": shots, "background": background,
            "wearer": wearer}


def score_one(photo, run, out, *extra):
    code = main(["score", str(photo), "--run", str(run), "--out", str(out), *extra])
    return code, json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else None


def corner_error(record, shot):
    return float(np.abs(np.array(record["location"]["corners_px"]) - shot.artifact_corners_px).max())


def test_a_photo_of_the_8cm_print_is_read_with_the_8cm_layout(scene, capsys):
    code, summary = score_one(scene["root"] / "small.jpg", scene["run"], scene["root"] / "score_small")
    assert code == 0, capsys.readouterr().err
    (record,) = summary["photos"]
    assert record["location"]["method"] == "markers"
    assert corner_error(record, scene["shots"]["small"]) < 2.0  # read with the 30 cm layout: 95 px off
    # Its colours match the digital artifact once the photo's exposure is divided out (wrong layout: ΔE 33).
    assert record["colour"]["delta_e_mean_gain_corrected"] < 4.0, record["colour"]
    assert record["colour"]["structure_correlation"] > 0.9  # (wrong layout: 0.22)
    assert record["location"]["markers_found"] == [4, 5, 6, 7]
    assert record["export"] == SMALL and record["location"]["export"] == SMALL
    assert summary["summary"]["exports_seen"] == {SMALL: 1}


def test_exports_sharing_ids_are_told_apart_by_geometry(scene, capsys):
    photos = [str(scene["root"] / f"{name}.jpg") for name in ("legacy_small", "legacy_big")]
    out = scene["root"] / "score_legacy"
    assert main(["score", *photos, "--run", str(scene["legacy"]), "--out", str(out)]) == 0, capsys.readouterr().err
    small, big = json.loads((out / "summary.json").read_text())["photos"]
    assert corner_error(small, scene["shots"]["legacy_small"]) < 2.0
    assert corner_error(big, scene["shots"]["legacy_big"]) < 2.0
    assert small["export"] == SMALL and big["export"] == BIG


def test_two_prints_that_fit_equally_well_ask_for_export(scene, capsys):
    """Both prints of the run in one photo: each fits its own markers perfectly, so the photo does not say which
    one is meant. One line asks for --export; with it, the chosen print is the one located."""
    big_sheet, _ = sheet_from_export(scene["run"] / run_files.EXPORT / f"{BIG}.json")
    small = scene["shots"]["small"]
    aside = np.array([1300.0, 150.0, 1800.0, 1050.0])  # a second printout, pinned up beside the wearer
    both = synthesize(small.photo, aside, big_sheet, (300, 300), np.random.default_rng(1),
                      pose=dict(POSE, yaw_deg=-10.0), effects=False)
    photo = scene["root"] / "both.jpg"
    write_image(photo, both.photo, quality=95)
    code, _ = score_one(photo, scene["run"], scene["root"] / "score_both")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "Traceback" not in "\n".join(err)
    assert err[-1].startswith(f"patchgen score: error: {photo}: the markers in view fit exports ")
    assert err[-1].endswith(f"(nothing was written: {scene['root'] / 'score_both'} is as it was)")
    assert f"{photo}: the markers in view fit exports {BIG} and {SMALL} about equally well" in err[-1] or \
        f"{photo}: the markers in view fit exports {SMALL} and {BIG} about equally well" in err[-1]
    assert "say which print it shows with --export NAME" in err[-1]

    code, summary = score_one(photo, scene["run"], scene["root"] / "score_both_small", "--export", SMALL)
    assert code == 0, capsys.readouterr().err
    (record,) = summary["photos"]
    assert record["export"] == SMALL and corner_error(record, small) < 2.0
    line = main(["score", str(photo), "--run", str(scene["run"]), "--export", "patch_1x1mm_a9"])
    assert line == 2
    exports = scene["run"] / run_files.EXPORT
    assert f"--export patch_1x1mm_a9: no such export in {exports} (its exports: {BIG}, {SMALL})" in \
        capsys.readouterr().err


def plain_wall(inria_dev):
    """A real photo with nobody in it: the background to the right of the people in an INRIA image."""
    image = read_image(inria_dev / "images" / "crop001520.jpg")
    return np.ascontiguousarray(image[:, -480:])


def test_no_artifact_and_no_target_is_inconclusive_never_success(scene, inria_dev, capsys):
    root = scene["root"]
    wall, person = root / "plain_wall.jpg", root / "person_without_artifact.jpg"
    write_image(wall, plain_wall(inria_dev), quality=95)
    shutil.copy(inria_dev / "images" / "crop001504.jpg", person)
    out = root / "score_plain"
    assert main(["score", str(wall), str(person), "--run", str(scene["run"]), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    by_name = {p["photo"]: p for p in summary["photos"]}
    s = summary["summary"]
    # Neither photo shows the artifact: both are counted apart, in no rate.
    assert s["photos"] == 2 and s["not_found"] == 2 and s["attack_worked_rate"] is None and s["inconclusive"] == 0
    verdict = by_name["plain_wall.jpg"]["verdict"]
    assert verdict["outcome"] == "inconclusive" and verdict["worked"] is None
    assert "artifact not found and no target detected" in verdict["reason"]
    # A person seen in a photo without the artifact: nothing hid them, a failure.
    assert by_name["person_without_artifact.jpg"]["verdict"]["outcome"] == "failed"
    assert "plain_wall.jpg: inconclusive (person 0.00, artifact not found): artifact not found" in err
    rows = (out / "scores.csv").read_text().splitlines()
    assert rows[0].startswith("photo,outcome,") and rows[1].startswith("plain_wall.jpg,inconclusive,")
    assert '<span class="unknown">inconclusive</span>' in (out / "report.html").read_text()


def wall_video(path, inria_dev, frames=3):
    """An MJPG AVI of the plain wall, held still (synthetic.write_video moves a printout; here there is none)."""
    wall = plain_wall(inria_dev)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (wall.shape[1], wall.shape[0]))
    for _ in range(frames):
        writer.write(np.ascontiguousarray(wall[:, :, ::-1]))
    writer.release()
    return path


def test_a_video_of_a_plain_wall_is_inconclusive(scene, inria_dev, tmp_path, capsys):
    video = wall_video(tmp_path / "wall.avi", inria_dev)
    out = tmp_path / "score"
    assert main(["score", str(video), "--run", str(scene["run"]), "--out", str(out)]) == 0
    summary = json.loads((out / "videos" / "wall.json").read_text())["summary"]
    assert summary["frames_scored"] == 3 and summary["attack_worked_rate"] is None
    assert summary["not_found_frames"] == 3 and summary["inconclusive_frames"] == 0
    assert ("wall.avi: 3 frames scored, attack worked on – of the conclusive ones with the artifact found "
            "(0 inconclusive; 3 without it found, counted apart)") in capsys.readouterr().err


def test_live_overlay_never_shows_success_on_a_plain_wall(scene, inria_dev, yolov5n_path, tmp_path):
    wall = plain_wall(inria_dev)
    assert not (wall == WORKED).all(axis=2).any()
    demo = LiveDemo(FrameSource(wall_video(tmp_path / "wall.avi", inria_dev)), load_victim(str(yolov5n_path)),
                    load_run(scene["run"]), imgsz=320, use_features=False, log=lambda m: None)
    shown = demo.process(wall)
    # The banner's verdict line is drawn in the "worked" green only on success; here it says inconclusive, white.
    assert not (shown == WORKED).all(axis=2).any()
    assert (shown[:60, :400] >= 240).all(axis=2).any(), "the verdict line is drawn in white (anti-aliased)"


class Cameras:
    """Every FrameSource opened is closed again (the camera is free for the next program)."""

    def __init__(self, monkeypatch):
        self.open_now = 0
        opened, closed = FrameSource.open, FrameSource.close

        def open_(source):
            result = opened(source)
            self.open_now += 1
            return result

        def close(source):
            if source.capture is not None:
                self.open_now -= 1
            closed(source)

        monkeypatch.setattr(FrameSource, "open", open_)
        monkeypatch.setattr(FrameSource, "close", close)


def live_args(scene, tmp_path):
    video = tmp_path / "camera.avi"
    sheet, _ = sheet_from_export(scene["run"] / run_files.EXPORT / f"{BIG}.json")
    write_video(video, scene["background"][::4, ::4].copy(), scene["wearer"] / 4, sheet, (300, 300), frames=2)
    return ["live", "--camera", str(video), "--run", str(scene["run"]), "--serve", "--no-window", "--frames", "2"]


def test_live_port_out_of_range_is_one_line(scene, monkeypatch, capsys, tmp_path):
    cameras = Cameras(monkeypatch)
    assert main([*live_args(scene, tmp_path), "--port", "99999"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "patchgen live: error: --port must be between 0 and 65535 (0: any free port), got 99999"
    assert cameras.open_now == 0


def test_live_port_in_use_is_one_line_and_frees_the_camera(scene, monkeypatch, capsys, tmp_path):
    cameras = Cameras(monkeypatch)
    args = live_args(scene, tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main([*args, "--port", str(port)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"patchgen live: error: cannot serve on 127.0.0.1:{port} (")
    assert cameras.open_now == 0


def test_a_truncated_video_prints_only_patchgen_lines(scene, tmp_path):
    """FFmpeg's and OpenCV's own log lines ("[mjpeg @ 0x...] overread 8") stay out of the user's terminal."""
    sheet, _ = sheet_from_export(scene["run"] / run_files.EXPORT / f"{BIG}.json")
    video = tmp_path / "turning.avi"
    write_video(video, scene["background"][::3, ::3].copy(), scene["wearer"] / 3, sheet, (300, 300), frames=6)
    data = video.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    # The child sets its own log levels: none may come from this test process's environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    result = subprocess.run([sys.executable, "-m", "patchgen.cli", "score", str(cut), "--run", str(scene["run"]),
                             "--out", str(tmp_path / "out"), "--threads", "1"], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any("video ended early" in line for line in lines)
    strangers = [line for line in lines if not line.startswith((str(cut), "report: "))]
    assert strangers == [], strangers
