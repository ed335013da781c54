"""The HTTP endpoint victim against a real model served on 127.0.0.1 (tests/http_model_server.py): its answers
are the model's own, every fault is retried and counted, the credential stays in the environment, and an endpoint
that cannot answer is one line."""

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
import torch
from http_model_server import ModelServer, image_key

from patchgen.errors import UserError
from patchgen.image_io import read_image
from patchgen.victims import load_victim
from patchgen.victims.cifar_resnet import CIFAR10_NAMES
from patchgen.victims.http_endpoint import Settings, load
from patchgen.victims.http_victim import uint8_images

KEY_ENV = "PATCHGEN_TEST_HTTP_KEY"
SECRET = "Bearer s3cret-9f27"
# fast and still far from a loaded runner's answer time: a fault's slow answer comes well after the timeout
FAST = dict(timeout_s=0.5, retries=4, backoff_s=0.01, backoff_cap_s=0.05, concurrency=3)


@pytest.fixture(scope="module")
def cifar_images(cifar_holdout_images):
    """Six holdout images of six classes."""
    return cifar_holdout_images[:6]


@pytest.fixture(scope="module")
def cifar_names(tmp_path_factory) -> str:
    """The CIFAR-10 class names file, one a line, as a user gives it (adapter.http.names_file)."""
    path = tmp_path_factory.mktemp("names") / "cifar10.txt"
    path.write_text("\n".join(CIFAR10_NAMES) + "\n")
    return str(path)


def classifier(url: str, names_file: str, **changes):
    return load(url, Settings(**{"family": "classifier", "imgsz": 32, "names_file": names_file,
                                 "scores": "predictions.0.probs", **FAST, **changes}))


@pytest.mark.parametrize("form", ["png", "multipart", "json_base64"])
def test_answers_are_the_models_own_in_each_form(resnet, cifar_images, cifar_names, form):
    heard = []
    with ModelServer(resnet) as server:
        victim = classifier(server.url, cifar_names, form=form)
        probs = victim.query(cifar_images, on_answer=lambda i, answer: heard.append((i, answer)))
    expected = resnet.query(cifar_images)
    assert probs.shape == (6, 10) and probs.dtype == torch.float32
    torch.testing.assert_close(probs, expected, rtol=0, atol=1e-6)
    assert sorted(i for i, _ in heard) == list(range(6))  # each answer heard once, as it came
    for i, answer in heard:
        assert torch.equal(answer, probs[i])
    assert victim.requests == server.seen == 6 and victim.answered == 6
    assert set(victim.failures.values()) == {0}


def test_logits_are_softmaxed(resnet, cifar_images, cifar_names):
    with ModelServer(resnet) as server:
        victim = classifier(server.url, cifar_names, scores="predictions.0.logits", scores_are="logits")
        probs = victim.query(cifar_images)
    torch.testing.assert_close(probs, resnet.query(cifar_images), rtol=0, atol=1e-5)


def test_each_fault_is_retried_and_counted(resnet, cifar_images, cifar_names):
    faults = ["slow", "500", "drop", "malformed", "missing", "429"]
    with ModelServer(resnet, faults, slow_s=1.5) as server:
        victim = classifier(server.url, cifar_names)
        probs = victim.query(cifar_images)
        counts = {key: dict(entry) for key, entry in server.counts.items()}
    torch.testing.assert_close(probs, resnet.query(cifar_images), rtol=0, atol=1e-6)
    assert victim.failures == {"timeout": 1, "server_error": 1, "connection": 1, "malformed": 2, "rate_limited": 1}
    assert victim.requests == server.seen == 6 + len(faults) and victim.answered == 6
    keys = {image_key(rgb) for rgb in uint8_images(cifar_images)}
    assert set(counts) == keys and all(entry["answered"] == 1 for entry in counts.values())
    assert sum(entry["requests"] for entry in counts.values()) == 12


def test_requests_go_concurrently_and_at_the_rate(resnet, cifar_images, cifar_names):
    # the server holds the first three requests until three are in flight at once: only a client that sends them
    # together is answered
    with ModelServer(resnet, together=3) as server:
        victim = classifier(server.url, cifar_names, timeout_s=20.0, rate=100.0)
        start = time.monotonic()
        probs = victim.query(cifar_images)
        elapsed = time.monotonic() - start
    torch.testing.assert_close(probs, resnet.query(cifar_images), rtol=0, atol=1e-6)
    assert elapsed >= 5 / 100  # six requests, each in its own hundredth of a second: a lower bound, never flaky


def test_retries_exhausted_is_one_line_naming_the_last_failure(resnet, cifar_images, cifar_names):
    with ModelServer(resnet, then="500") as server:
        victim = classifier(server.url, cifar_names, retries=2, concurrency=1)
        with pytest.raises(UserError) as err:
            victim.query(cifar_images[:1])
    message = str(err.value)
    assert message.startswith(server.url) and "did not answer after 3 tries (last: HTTP 500)" in message
    assert "\n" not in message
    assert victim.requests == server.seen == 3 and victim.failures["server_error"] == 3


def test_answers_already_in_are_heard_before_a_failure(resnet, cifar_images, cifar_names):
    """A batch that fails part way has already handed over the answers it got: a log keeps them."""
    heard = []
    with ModelServer(resnet, ["ok"], then="500") as server:
        victim = classifier(server.url, cifar_names, retries=1, concurrency=1)
        with pytest.raises(UserError):
            victim.query(cifar_images[:2], on_answer=lambda i, answer: heard.append(i))
    assert heard == [0] and victim.answered == 1


def test_auth_header_comes_from_the_environment_and_is_shown_nowhere(resnet, cifar_images, cifar_names,
                                                                    monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    settings = Settings(family="classifier", imgsz=32, names_file=cifar_names, scores="predictions.0.probs",
                        auth_env=KEY_ENV, **FAST)
    with ModelServer(resnet, auth=SECRET) as server:
        victim = load(server.url, settings)
        probs = victim.query(cifar_images[:2])
        torch.testing.assert_close(probs, resnet.query(cifar_images[:2]), rtol=0, atol=1e-6)
        shown = [repr(settings), str(settings), str(dataclasses.asdict(settings)), repr(victim), str(victim),
                 repr(vars(victim.endpoint))]
        assert not any(SECRET in text or "s3cret" in text for text in shown)

        # a wrong credential: refused at once (no retry), and the server's echo of it kept out of the message
        monkeypatch.setenv(KEY_ENV, "Bearer wrong-7c1d")
        before = server.seen
        with pytest.raises(UserError) as err:
            victim.query(cifar_images[:1])
    assert "HTTP 401" in str(err.value) and "wrong-7c1d" not in str(err.value) and "auth_env" in str(err.value)
    assert server.seen == before + 1

    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(UserError, match=f"environment variable {KEY_ENV} .* is not set"):
        load(server.url, settings)


def test_nothing_listening_is_one_line(cifar_images, cifar_names):
    with socket.socket() as probe:  # a port that was free a moment ago, now with nothing behind it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    victim = classifier(f"http://127.0.0.1:{port}/predict", cifar_names, retries=2)
    with pytest.raises(UserError) as err:
        victim.query(cifar_images[:2])
    message = str(err.value)
    assert "\n" not in message and f"127.0.0.1:{port}" in message
    assert "did not answer after 3 tries (last: cannot connect: connection refused)" in message
    assert victim.requests == 0 and victim.answered == 0 and victim.failures["connection"] >= 3


@pytest.fixture(scope="module")
def yolov5n(yolov5n_path, one_torch_thread):
    return load_victim(str(yolov5n_path), imgsz=160)


@pytest.mark.parametrize("normalised", [False, True])
def test_detector_boxes_by_keys_and_class_names(yolov5n, inria_holdout, tmp_path, normalised):
    paths = sorted((inria_holdout / "images").iterdir())[:2]
    images = torch.stack([torch.from_numpy(cv2.resize(read_image(p), (160, 160), interpolation=cv2.INTER_AREA))
                          .permute(2, 0, 1).float() / 255 for p in paths])
    names_file = tmp_path / "coco.txt"
    names_file.write_text("\n".join(yolov5n.names) + "\n")
    settings = Settings(family="detector", imgsz=160, names_file=str(names_file), boxes="detections",
                        box_keys=["box.0", "box.1", "box.2", "box.3", "score", "label"],
                        boxes_normalised=normalised, **FAST)
    with ModelServer(yolov5n, normalised=normalised) as server:
        found = load(server.url, settings).query(images)
    expected = [yolov5n.query(image[None])[0] for image in images]  # one at a time, as the server runs it
    assert [len(d) for d in found] == [len(d) for d in expected] and len(expected[0]) > 0
    for got, want in zip(found, expected):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-4)


@pytest.mark.parametrize("changes, says", [
    (dict(family="segmenter"), "'adapter.http.family' must be one of classifier, detector"),
    (dict(names_file=""), "'adapter.http.names_file' must name a file of the endpoint's class names"),
    (dict(scores=""), "'adapter.http.scores' must give the dotted path"),
    (dict(form="jpeg"), "'adapter.http.form' must be one of png, multipart, json_base64"),
    (dict(box_keys=["x1", "y1"]), "'adapter.http.box_keys' must name 6 keys"),
    (dict(backoff_s=5.0, backoff_cap_s=1.0), "'adapter.http.backoff_s' (5) must be at most"),
    (dict(auth_env="Bearer abc123"), "must be the NAME of an environment variable"),
])
def test_bad_settings_are_one_line(changes, says):
    settings = Settings(**{"family": "classifier", "imgsz": 32, "names_file": "cifar10.txt",
                           "scores": "predictions.0.probs", **changes})
    with pytest.raises(UserError) as err:
        load("http://127.0.0.1:9/predict", settings)
    assert says in str(err.value) and "\n" not in str(err.value)
    assert "abc123" not in str(err.value)


def test_bad_url_and_names_file(tmp_path, cifar_names):
    with pytest.raises(UserError, match="no URL with a host"):
        classifier("http:///predict", cifar_names)
    with pytest.raises(UserError, match="adapter.http.names_file file not found: .*missing.txt"):
        classifier("http://127.0.0.1:9/", str(tmp_path / "missing.txt"))
    gap = tmp_path / "names.txt"
    gap.write_text("cat\n\ndog\n")
    with pytest.raises(UserError, match=r"adapter.http.names_file: .*names.txt:2 is empty"):
        classifier("http://127.0.0.1:9/", str(gap))


def test_names_of_another_count_than_the_scores_is_one_line(resnet, cifar_images, tmp_path):
    three = tmp_path / "three.txt"
    three.write_text("airplane\nautomobile\nbird\n")
    with ModelServer(resnet) as server:
        with pytest.raises(UserError) as err:
            classifier(server.url, str(three), retries=0).query(cifar_images[:1])
    assert str(err.value) == (f"{three} gives 3 class names but {server.url} outputs 10 classes; give "
                              f"adapter.http.names_file a file with 10 names, one per line")


def test_server_as_a_process_counts_requests_per_image(resnet20_path, cifar_images, cifar_names, tmp_path):
    """The form a kill-and-resume test uses: its own process, faults from the command line, counts in a file."""
    counts = tmp_path / "counts.json"
    server = subprocess.Popen([sys.executable, str(Path(__file__).parent / "http_model_server.py"), "--victim",
                               f"cifar_resnet20:{resnet20_path}", "--faults", "500,drop", "--count-file",
                               str(counts)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        port = int(server.stdout.readline().split()[-1])
        victim = classifier(f"http://127.0.0.1:{port}/predict", cifar_names, concurrency=1)
        victim.query(cifar_images[:2])
    finally:
        server.terminate()
        server.wait()
    seen = json.loads(counts.read_text())
    assert seen == {image_key(rgb): entry for rgb, entry in
                    zip(uint8_images(cifar_images[:2]), [{"requests": 3, "answered": 1}, {"requests": 1,
                                                                                          "answered": 1}])}
    assert victim.requests == 4 and victim.failures["server_error"] == 1 and victim.failures["connection"] == 1
