"""Capture for a classifier run: a photo of its printed patch on an ImageNet image, scored by `patchgen score`
with the real MobileNetV2 (top-1 labels with and without the patch, the goal's verdict); each scoring in a folder
of its own; and every goal's photo verdict is its `succeeded`, the one definition of success evaluation uses."""

import csv
import hashlib
import json

import cv2
import numpy as np
import pytest
import torch

from capture.batch import score_inputs
from capture.frames import FrameSource
from capture.live import LiveDemo
from capture.media import write_image
from capture.run_artifact import load_run
from capture.synthetic import crop_sheet, sheet_from_export, synthesize, write_run
from patchgen import registry
from patchgen.cli import main
from patchgen.config import RunConfig, from_dict
from patchgen.data import Scenes
from patchgen.goals.photo import PhotoEvidence
from patchgen.image_io import read_image
from patchgen.placements.base import Placed, box_homography
from patchgen.victims import load_victim
from printing.export import export_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLASSIFIER = "mobilenet_v2-imagenet"
PRINT_MM = 100.0


@pytest.fixture(scope="module")
def holdout(shared_assets):
    return shared_assets / "data" / "imagenet_samples" / "holdout"


def square_crop(rgb, side):
    h, w = rgb.shape[:2]
    s = min(h, w)
    return cv2.resize(rgb[(h - s) // 2:(h + s) // 2, (w - s) // 2:(w + s) // 2], (side, side),
                      interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def scene(tmp_path_factory, holdout):
    """A 'jay' patch (a photo of a jay: MobileNetV2 knows it at a glance) trained, as it were, for goal targeted
    jay, exported at 10 cm; a photo of its print, markers cut away, on a toucan's picture (1 in 3 of the height)."""
    root = tmp_path_factory.mktemp("classifier_capture")
    patch = square_crop(read_image(holdout / "n01580077_jay.jpg"), 128)
    run = write_run(root / "run", patch, size_mm=None, victim=CLASSIFIER, goal="targeted", goal_class="jay")
    export = export_run(run, f"{PRINT_MM:.0f}mm", dpi=100)
    sheet, layout = sheet_from_export(export.sidecar)
    gap = -float(layout["markers"][0]["corners_mm"][2][0])
    bare = crop_sheet(sheet, (-gap / 2, -gap / 2, PRINT_MM + gap / 2, PRINT_MM + gap / 2))
    background = read_image(holdout / "n01843383_toucan.jpg")
    h, w = background.shape[:2]
    background = cv2.resize(background, (round(w * 720 / h), 720), interpolation=cv2.INTER_CUBIC)
    h, w = background.shape[:2]
    box = np.array([w * 0.3, h * 0.15, w * 0.7, h * 0.85])  # where the print goes: the middle of the picture
    pose = {"yaw_deg": 10.0, "pitch_deg": 5.0, "roll_deg": 5.0, "size_factor": 1.0, "anchor_x": 0.5,
            "anchor_y": 0.5}
    shot = synthesize(background, box, bare, (PRINT_MM, PRINT_MM), np.random.default_rng(0), pose=pose,
                      artifact_scale=0.4 * h / np.hypot(box[2] - box[0], box[3] - box[1]))
    photo = root / "jay_print_on_toucan.jpg"
    write_image(photo, shot.photo, quality=95)
    return {"root": root, "run": run, "photo": photo, "patch": patch}


def folder_state(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_classifier_photo_is_scored_with_top1_labels_and_each_scoring_keeps_its_folder(scene, capsys):
    run, photo = scene["run"], str(scene["photo"])
    assert main(["score", photo, "--run", str(run)]) == 0
    assert "jay_print_on_toucan.jpg: worked (top-1 jay " in capsys.readouterr().err
    report = json.loads((run / "score" / "summary.json").read_text())
    record = report["photos"][0]
    verdict, before = record["verdict"], record["counterfactual_verdict"]
    # The print found by its own image, the photo classified as its goal class; painted out, the scene is not.
    assert record["located"] and record["location"]["method"] == "features"
    assert verdict["outcome"] == "worked" and verdict["top1"] == "jay" and verdict["scored"] == "jay"
    assert verdict["rule"] == "counterfactual-label" and verdict["target_score"] == verdict["top1_score"]
    assert before["top1"] != "jay" and before["outcome"] == "failed"
    assert record["score_change"] == pytest.approx(verdict["target_score"] - before["target_score"], abs=1e-3)
    assert record["top_classes"][0]["class"] == "jay" and len(record["counterfactual_top_classes"]) == 5
    assert report["summary"]["family"] == "classifier" and report["summary"]["attack_worked_rate"] == 1.0
    rows = list(csv.DictReader((run / "score" / "scores.csv").open()))
    assert rows[0]["top1"] == "jay" and rows[0]["counterfactual_top1"] == before["top1"]
    annotated = read_image(run / "score" / "photos" / "jay_print_on_toucan_annotated.jpg")
    assert annotated.shape == read_image(scene["photo"]).shape

    # Scored again: a folder of its own beside the first, which is left byte for byte.
    first = folder_state(run / "score")
    assert main(["score", photo, "--run", str(run)]) == 0
    assert folder_state(run / "score") == first
    assert json.loads((run / "score-2" / "summary.json").read_text())["photos"][0]["verdict"] == verdict
    # An --out that holds a report is refused, not replaced.
    assert main(["score", photo, "--run", str(run), "--out", str(run / "score")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"patchgen score: error: --out {run / 'score'} already holds a score report (summary.json): choose another "
        "--out, or leave --out out: each scoring of a run gets a folder of its own (RUN/score, RUN/score-2, ...)")
    assert folder_state(run / "score") == first


def test_untargeted_judges_by_the_given_label_or_the_counterfactuals_top1(scene, tmp_path, capsys):
    run = write_run(tmp_path / "run", scene["patch"], size_mm=(PRINT_MM, PRINT_MM), victim=CLASSIFIER,
                    goal="untargeted")
    photo = str(scene["photo"])
    assert main(["score", photo, "--run", str(run), "--out", str(tmp_path / "own")]) == 0
    (record,) = json.loads((tmp_path / "own" / "summary.json").read_text())["photos"]
    # The true class is what the victim sees with the patch painted out; with the patch it sees a jay.
    verdict, before = record["verdict"], record["counterfactual_verdict"]
    assert verdict["rule"] == "counterfactual-label" and verdict["scored"] == f"true class {before['top1']}"
    assert verdict["outcome"] == "worked" and verdict["top1"] == "jay"

    assert main(["score", photo, "--run", str(run), "--out", str(tmp_path / "jay"), "--label", "jay"]) == 0
    (record,) = json.loads((tmp_path / "jay" / "summary.json").read_text())["photos"]
    assert record["verdict"]["rule"] == "given-label" and record["verdict"]["outcome"] == "failed"

    # The victim misses the toucan even with the patch painted out: a wrong top-1 is not the patch's doing.
    assert main(["score", photo, "--run", str(run), "--out", str(tmp_path / "toucan"), "--label", "toucan"]) == 0
    (record,) = json.loads((tmp_path / "toucan" / "summary.json").read_text())["photos"]
    assert record["counterfactual_verdict"]["top1"] != "toucan"
    assert record["verdict"]["outcome"] == "inconclusive" and "painted out" in record["verdict"]["reason"]

    capsys.readouterr()
    assert main(["score", photo, "--run", str(run), "--out", str(tmp_path / "x"), "--label", "unicorn"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("patchgen score: error: --label unicorn: class 'unicorn' is not one of")
    assert not (tmp_path / "x").exists()


def test_label_is_refused_for_a_detector_run(scene, tmp_path, yolov5n_path, capsys):
    run = write_run(tmp_path / "run", scene["patch"], victim=str(yolov5n_path))
    assert main(["score", str(scene["photo"]), "--run", str(run), "--label", "person"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("patchgen score: error: --label person: a true class is for a classifier's photos")
    assert not (run / "score").exists()


def goal_on(victim, name, **attack):
    config = from_dict(RunConfig, {"goal": name, **attack})
    return registry.get("goal", name)(victim, config)


def one_image(boxes=None, labels=None) -> Scenes:
    """Evaluation's own Scenes for one image: its target boxes, or its label."""
    boxes = torch.zeros(1, 0, 4) if boxes is None else torch.as_tensor(boxes, dtype=torch.float32).view(1, -1, 4)
    return Scenes(torch.zeros(1, 3, 8, 8), boxes, torch.ones(boxes.shape[:2], dtype=torch.bool), ["photo"],
                  None if labels is None else torch.tensor(labels))


@pytest.mark.parametrize("name, attack", [("vanish", {"target_classes": ["person"]}),
                                          ("mislabel", {"target_classes": ["person"], "goal_class": "car"}),
                                          ("appear", {"goal_class": "car"})])
def test_a_detector_goals_photo_verdict_is_its_success(name, attack, yolov5n_path):
    """On random detections near a wearer's box (or an artifact's), the photo's verdict is what `succeeded` says
    of the same detections with evaluation's own Scenes and Placed: one definition of success."""
    goal = goal_on(load_victim(str(yolov5n_path)), name, **attack)
    rng = np.random.default_rng(0)
    box = np.array([200.0, 100.0, 300.0, 400.0])
    outcomes = []
    for _ in range(60):
        n = int(rng.integers(0, 4))
        jitter = rng.normal(0, 30, size=(n, 4))
        dets = np.column_stack([box + jitter, rng.uniform(0.05, 0.9, n), rng.choice([0, 2, 5], n)])
        if name == "appear":  # the artifact where its box is: a placement of the same footprint
            side = 64
            placed = Placed(box_homography(torch.tensor([250.0]), torch.tensor([250.0]), torch.tensor([100 / side]),
                                           torch.tensor([300 / side]), side), torch.ones(1, 1, dtype=torch.bool), side)
            corners = np.array([[200.0, 100.0], [300.0, 100.0], [300.0, 400.0], [200.0, 400.0]])
            photo = PhotoEvidence(dets, None, (640, 480), artifact_corners=corners)
            expected = goal.succeeded([torch.as_tensor(dets, dtype=torch.float32)], one_image(), placed)
        else:
            photo = PhotoEvidence(dets, None, (640, 480), wearer_box=box)
            expected = goal.succeeded([torch.as_tensor(dets, dtype=torch.float32)], one_image(box), None)
        verdict = goal.photo_verdict(photo)
        assert verdict.worked is not None and verdict.worked == bool(expected[0]), (dets, verdict)
        outcomes.append(verdict.worked)
    assert set(outcomes) == {True, False}


@pytest.mark.parametrize("name, attack", [("targeted", {"goal_class": "toaster"}), ("untargeted", {})])
def test_a_classifier_goals_photo_verdict_is_its_success(name, attack):
    goal = goal_on(load_victim(CLASSIFIER), name, **attack)
    toaster, true = goal.victim.class_id("toaster"), goal.victim.class_id("toucan")
    rng = np.random.default_rng(1)
    outcomes = []
    for _ in range(40):
        logits = rng.normal(0, 1, 1000)
        logits[rng.choice([toaster, true, 7])] += 8
        probs = np.exp(logits) / np.exp(logits).sum()
        before = np.full(1000, 1e-4)
        before[true] = 1 - 999e-4  # painted out, the victim sees the true class: the photo is judged
        photo = PhotoEvidence(probs, before, (640, 480), artifact_corners=np.zeros((4, 2)), label=true)
        expected = goal.succeeded(torch.as_tensor(np.log(probs))[None], one_image(labels=[true]), None)
        verdict = goal.photo_verdict(photo)
        assert verdict.worked is not None and verdict.worked == bool(expected[0])
        assert verdict.top1 == goal.victim.names[int(probs.argmax())]
        outcomes.append(verdict.worked)
    assert set(outcomes) == {True, False}


def test_video_and_live_judge_a_classifier_run(scene, tmp_path):
    """A video of the print (three frames) is scored frame by frame, and the live loop judges each frame, both by
    the goal's photo verdict: the same top-1 and outcome as the photo."""
    photo = read_image(scene["photo"])
    video = tmp_path / "jay.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (photo.shape[1], photo.shape[0]))
    for _ in range(3):
        writer.write(np.ascontiguousarray(photo[:, :, ::-1]))
    writer.release()
    victim = load_victim(CLASSIFIER)
    summary = score_inputs([video], load_run(scene["run"]), tmp_path / "video", victim=victim, log=lambda m: None,
                           progress=False)
    assert summary["videos"] == 1
    frames = json.loads((tmp_path / "video" / "videos" / "jay.json").read_text())["frames"]
    assert [(f["top1"], f["outcome"]) for f in frames] == [("jay", "worked")] * 3
    assert all(f["counterfactual_top1"] != "jay" for f in frames)

    demo = LiveDemo(FrameSource(video), victim, load_run(scene["run"]), max_frames=2, snapshot_dir=tmp_path,
                    log=lambda m: None)
    assert demo.run().frames == 2
    assert (demo.last_score.verdict.top1, demo.last_score.verdict.outcome) == ("jay", "worked")
