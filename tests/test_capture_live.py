"""`patchgen live`: a video file as the camera for N frames, bad cameras and frames, and the web page checked in
a real headless Chromium."""

import json
import shutil
import subprocess
import threading
import time
import urllib.request

import cv2
import numpy as np
import pytest
import torch

from capture_helpers import exported_peer_patch

from capture.frames import FrameSource
from capture.live import LiveDemo
from capture.run_artifact import load_run
from capture.serve import LiveServer
from capture.synthetic import frame_on_wearer, sheet_from_export, tallest_person, write_video
from patchgen.cli import main
from patchgen.image_io import decode_image, encode_image, read_image
from patchgen.victims import load_victim

FRAMES = 8


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def scene(tmp_path_factory, shared_assets, inria_dev, yolov5n_path):
    root = tmp_path_factory.mktemp("live")
    run = root / "run"
    sheet, _ = sheet_from_export(exported_peer_patch(run, shared_assets, yolov5n_path).sidecar)
    image, box = tallest_person(inria_dev, "crop001531")
    background, _, wearer = frame_on_wearer(image, box, (960, 540), fill=0.9)
    video = root / "camera.avi"
    write_video(video, background, wearer, sheet, (300, 300), frames=FRAMES, fps=10, seed=4)
    return {"root": root, "run": run, "video": video, "victim": load_victim(str(yolov5n_path))}


def test_live_on_a_video_file_for_n_frames(scene, capsys, tmp_path):
    code = main(["live", "--camera", str(scene["video"]), "--run", str(scene["run"]), "--frames", "3",
                 "--imgsz", "320", "--no-window", "--snapshots", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "live: 3 frames at" in err and "3 frames done" in err


def test_camera_index_that_does_not_exist(capsys, yolov5n_path):
    code = main(["live", "--camera", "57", "--victim", str(yolov5n_path), "--frames", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == "patchgen live: error: camera 57 could not be opened (no such device, or it is busy)"


def test_camera_file_that_does_not_exist_and_unreadable_video(capsys, tmp_path, yolov5n_path):
    assert main(["live", "--camera", str(tmp_path / "nope.mp4"), "--victim", str(yolov5n_path)]) == 2
    assert "nope.mp4: no such file, and not a camera index or a URL" in capsys.readouterr().err
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"RIFF not really a video")
    assert main(["live", "--camera", str(junk), "--victim", str(yolov5n_path)]) == 2
    assert capsys.readouterr().err.strip().endswith("junk.avi: not a readable video")


def test_stream_that_ends_midway(scene, capsys, tmp_path):
    data = scene["video"].read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    code = main(["live", "--camera", str(cut), "--run", str(scene["run"]), "--frames", "50", "--imgsz", "320",
                 "--no-window", "--no-features"])
    err = capsys.readouterr().err
    assert code == 0, err
    done = int(err.split("live: ")[-1].split(" frames")[0])
    assert 0 < done < FRAMES
    assert "ended early" in err


class FlakyCamera:
    """A camera (the real video underneath) that hands out an empty frame and a scrap of a frame, then stops;
    reopened once it gives two more frames, then it is gone for good."""

    opened = 0

    def __init__(self, video, good):
        self.capture, self.good, self.reads = cv2.VideoCapture(str(video)), good, 0

    @classmethod
    def opener(cls, video):
        def open_camera(_index):
            cls.opened += 1
            return {1: cls(video, good=4), 2: cls(video, good=2)}.get(cls.opened)
        return open_camera

    def isOpened(self):
        return True

    def get(self, _prop):
        return 0

    def read(self):
        self.reads += 1
        if self.reads == 2:
            return True, None  # an empty frame
        if self.reads == 3:
            return True, np.zeros((4, 4), np.uint8)  # a scrap
        if self.good <= 0:
            return False, None
        self.good -= 1
        return self.capture.read()

    def release(self):
        self.capture.release()


class OnceBrokenVictim:
    """The real detector, except that it raises on its second frame."""

    def __init__(self, victim):
        self.victim, self.calls = victim, 0
        self.names, self.imgsz, self.class_id, self.family = victim.names, victim.imgsz, victim.class_id, victim.family
        self.parameters, self.buffers = victim.parameters, victim.buffers

    def detect_rgb(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("simulated failure on one frame")
        return self.victim.detect_rgb(*args, **kwargs)


def test_live_survives_bad_frames_and_a_camera_that_stops(scene, tmp_path):
    FlakyCamera.opened = 0
    source = FrameSource("0", retries=2, retry_wait_s=0.0, opener=FlakyCamera.opener(scene["video"])).open()
    assert source.kind == "camera"
    victim = OnceBrokenVictim(scene["victim"])
    demo = LiveDemo(source, victim, load_run(scene["run"]), imgsz=320, snapshot_dir=tmp_path, log=lambda m: None)
    summary = demo.run()
    assert summary.frames + summary.failed_frames == 6  # 4 frames, reopen, 2 frames
    assert summary.failed_frames == 1
    assert summary.bad_frames == 4  # an empty frame and a scrap, from each of the two openings
    assert summary.ended == "camera stopped after 6 frames and 2 retries"
    assert FlakyCamera.opened == 4  # the first opening, one reopen that worked, two that did not
    events = " | ".join(summary.events)
    assert "reopened after a failed read" in events and "reopen attempt 2 of 2 failed" in events
    assert "simulated failure on one frame" in events


def _get(url, data=None):
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST" if data else "GET"),
                                timeout=10) as response:
        return response.read()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed")
def test_live_web_page_in_headless_chromium(scene, tmp_path):
    server = LiveServer("127.0.0.1", 0).start()
    assert server.url.startswith("http://127.0.0.1:")
    demo = LiveDemo(FrameSource(scene["video"], loop=True), scene["victim"], load_run(scene["run"]), imgsz=320,
                    server=server, snapshot_dir=tmp_path / "snaps", use_features=False, log=lambda m: None)
    worker = threading.Thread(target=demo.run, daemon=True)
    worker.start()
    try:
        deadline = time.time() + 60
        while server.status()["frames"] < 1 and time.time() < deadline:
            time.sleep(0.05)
        frame = decode_image(_get(server.url + "frame.jpg"), "frame.jpg")
        assert frame.shape == (540, 960, 3)

        profile = tmp_path / "chromium-profile"
        command = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={profile}", "--virtual-time-budget=3000"]
        dom = subprocess.run(command + ["--dump-dom", server.url], capture_output=True, text=True, timeout=120)
        assert dom.returncode == 0, dom.stderr[-500:]
        # The page's script ran: frames were loaded into the <img> and the status line was filled in.
        shown = dom.stdout.split('data-frames-shown="')[1].split('"')[0]
        assert int(shown) >= 1
        assert 'id="status" data-frames="' in dom.stdout and "counterfactual off" in dom.stdout

        shot = tmp_path / "page.png"
        subprocess.run(command + ["--window-size=1100,800", f"--screenshot={shot}", server.url],
                       capture_output=True, timeout=120, check=True)
        page = read_image(shot)
        view = page[120:560, 40:1000]  # where the annotated frame sits under the heading
        assert view.std() > 20  # a photo, not the page's flat background

        assert json.loads(_get(server.url + "toggle", b"1"))["frames"] >= 1
        assert json.loads(_get(server.url + "snapshot", b"1"))
        deadline = time.time() + 30
        while not (demo.show_counterfactual and demo.summary.snapshots) and time.time() < deadline:
            time.sleep(0.05)
        assert demo.show_counterfactual
        assert read_image(demo.summary.snapshots[0]).shape == (540, 960, 3)
    finally:
        demo.stop()
        worker.join(timeout=30)
        server.close()
    assert not worker.is_alive()


def test_mjpeg_stream_that_stops_midway_is_retried_then_reported(scene, capsys):
    """A real HTTP MJPEG stream (an IP camera, here our own server fed with the video's frames) that goes away."""
    camera = LiveServer("127.0.0.1", 0).start()
    frames = [rgb for _, rgb in FrameSource(scene["video"]).frames()]
    sent = threading.Event()

    def broadcast():
        for i in range(60):
            camera.publish(encode_image(frames[i % len(frames)], ".jpg", 85), frames=i)
            time.sleep(0.05)
            if i == 20:
                sent.set()
        camera.close()  # the camera goes away mid-stream

    feeder = threading.Thread(target=broadcast, daemon=True)
    feeder.start()
    try:
        code = main(["live", "--camera", camera.url + "stream.mjpg", "--run", str(scene["run"]), "--imgsz", "320",
                     "--no-window", "--no-features", "--frames", "500"])
    finally:
        feeder.join(timeout=30)
    err = capsys.readouterr().err
    assert sent.is_set()
    assert code == 0, err
    assert "stream.mjpg: no frame at frame" in err and "retrying" in err
    assert "reopen attempt 3 of 3 failed" in err
    done = int(err.split("live: ")[-1].split(" frames")[0])
    assert done >= 1  # (a reconnect may see the frame on screen again, so no upper bound)
    assert "stream stopped after" in err.strip().splitlines()[-1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message a machine without CUDA gives")
def test_device_flag_without_cuda_and_unknown_device(scene, capsys):
    for command in (["live", "--camera", str(scene["video"])], ["score", str(scene["video"])]):
        assert main([*command, "--run", str(scene["run"]), "--device", "cuda"]) == 2
        assert capsys.readouterr().err.strip().endswith("--device 'cuda' asks for a CUDA GPU, but torch sees none on "
                                                        "this machine: use --device cpu, or auto")
        assert main([*command, "--run", str(scene["run"]), "--device", "tpu7"]) == 2
        error = capsys.readouterr().err.strip()
        assert error.endswith("--device 'tpu7' is not a device: use auto, cpu, cuda or cuda:N")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_live_and_score_on_the_gpu_agree_with_the_cpu(scene, capsys, tmp_path):
    code = main(["live", "--camera", str(scene["video"]), "--run", str(scene["run"]), "--frames", "2",
                 "--imgsz", "320", "--no-window", "--device", "cuda", "--snapshots", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    summaries = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        assert main(["score", str(scene["video"]), "--run", str(scene["run"]), "--stride", "4", "--out", str(out),
                     "--device", device]) == 0
        summaries[device] = json.loads((out / "summary.json").read_text())
    cpu, cuda = summaries["cpu"]["videos"][0], summaries["cuda"]["videos"][0]
    assert cuda["attack_worked_rate"] == cpu["attack_worked_rate"]
    assert cuda["mean_target_score"] == pytest.approx(cpu["mean_target_score"], abs=0.02)
