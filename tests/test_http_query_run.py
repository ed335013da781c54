"""Queries are money, against a real model behind HTTP (tests/http_model_server.py) that answers slowly, fails with
500, drops the connection and sends malformed JSON: a query run keeps going, counts each kind of failure, stays
within its budget, and after a SIGKILL and --resume the server has answered no completed query twice. A query is
completed when its answer is in RUN/queries.log: each answer is logged the moment it arrives."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from http_model_server import ModelServer, image_key

from patchgen.errors import UserError
from patchgen.queries import HEADER, Account, BudgetSpent, read_log
from patchgen.victims.cifar_resnet import CIFAR10_NAMES
from patchgen.victims.http_endpoint import Settings, load
from patchgen.victims.http_victim import uint8_images

SERVER = Path(__file__).parent / "http_model_server.py"
FAULTS = "slow,500,drop,malformed"  # the first four requests each server process gets, in this order
# a slow answer comes well after the timeout; an answer of the model comes well within it on a loaded runner
TIMEOUT_S, SLOW_S = 2.0, 3.0
STEPS, BATCH, POPULATION = 6, 4, 2  # random_search: (population + 1) x batch images a step
HELD_AFTER = 30  # the first server stops answering here: part way through step 3, after the checkpoint at step 2
BUDGET = 500


def environment() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def cifar_names(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("names") / "cifar10.txt"
    path.write_text("\n".join(CIFAR10_NAMES) + "\n")
    return path


def start_server(resnet20_path, count_file: Path, port: int = 0, hold_after: int | None = None):
    """The model server as a process of its own; (process, port) once it listens."""
    command = [sys.executable, str(SERVER), "--victim", f"cifar_resnet20:{resnet20_path}", "--port", str(port),
               "--faults", FAULTS, "--slow-s", str(SLOW_S), "--count-file", str(count_file)]
    if hold_after is not None:
        command += ["--hold-after", str(hold_after)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment())
    line = server.stdout.readline()
    assert line.startswith("listening on "), f"the model server did not start: {line!r}"
    return server, int(line.split()[-1])


def stop(process) -> None:
    process.terminate()
    process.wait()


def logged_keys(path: Path) -> list[bytes]:
    """The key of every whole record in a query log, repeats included, in order (the log is not changed)."""
    data, keys, at = path.read_bytes() if path.exists() else b"", [], 0
    while at + HEADER.size <= len(data):
        key, rows, columns = HEADER.unpack_from(data, at)
        if at + HEADER.size + 4 * rows * columns > len(data):
            break
        keys.append(key)
        at += HEADER.size + 4 * rows * columns
    return keys


def answered(count_file: Path) -> dict[str, int]:
    """The server's answers by image key (images it only received, never answered, left out)."""
    return {key: entry["answered"] for key, entry in json.loads(count_file.read_text()).items() if entry["answered"]}


def test_a_killed_query_run_resumes_without_asking_a_completed_query_again(resnet20_path, cifar_three_classes,
                                                                           cifar_names, tmp_path):
    first_counts, second_counts, run = tmp_path / "counts1.json", tmp_path / "counts2.json", tmp_path / "run"
    log = run / "queries.log"
    server, port = start_server(resnet20_path, first_counts, hold_after=HELD_AFTER)
    config = tmp_path / "query.yaml"
    config.write_text(f"""\
victim: http://127.0.0.1:{port}/predict
goal: targeted
goal_class: cat
data: {{train: {cifar_three_classes}}}
artifact: {{size: 8}}
train: {{steps: {STEPS}, batch: {BATCH}, log_every: 1, checkpoint_every: 2, device: cpu}}
optimizer: {{kind: random_search, random_search: {{population: {POPULATION}}}}}
query: {{budget: {BUDGET}, batch: 5}}
adapter:
  http: {{family: classifier, imgsz: 32, names_file: {cifar_names}, scores: predictions.0.probs, timeout_s: {TIMEOUT_S},
         retries: 4, backoff_s: 0.01, backoff_cap_s: 0.05, concurrency: 2}}
""")
    train = [sys.executable, "-m", "patchgen", "train", str(config), "--out", str(run), "--no-eval", "--quiet"]
    trainer = subprocess.Popen(train, stderr=subprocess.PIPE, text=True, env=environment())
    try:
        # the server holds every request after its 30th answer: the run waits part way through a batch until it is
        # killed (or gives up, after (retries + 1) x timeout_s, which fails the test)
        deadline = time.monotonic() + 120
        while len(logged_keys(log)) < HELD_AFTER and trainer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert trainer.poll() is None, f"the run ended before it was killed: {trainer.communicate()[1]}"
    finally:
        trainer.send_signal(signal.SIGKILL)  # at once, as a power cut or an OOM killer would
        trainer.communicate()
        stop(server)
    before = logged_keys(log)
    steps_before = [row["queries"] for row in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]
    first = answered(first_counts)
    # every answer the server sent before the kill is in the log: none was lost in flight, none logged twice
    assert len(before) == len(set(before)) == sum(first.values()) == HELD_AFTER
    # the kill came part way through a step after a checkpoint: the resumed run replays logged queries
    assert len(steps_before) >= 2 and steps_before[-1] < HELD_AFTER and (run / "checkpoint.safetensors").exists()

    server, _ = start_server(resnet20_path, second_counts, port=port)  # the same URL, counting afresh
    try:
        resumed = subprocess.run([*train, "--resume"], stderr=subprocess.PIPE, text=True, env=environment(),
                                 timeout=300)
    finally:
        stop(server)
    assert resumed.returncode == 0, resumed.stderr
    second = answered(second_counts)
    # no completed query asked again, and no image answered twice over both servers' lives
    again = set(first) & set(second)
    assert not again, f"{len(again)} of the {len(first)} queries completed before the kill were asked again"
    assert set(first.values()) | set(second.values()) == {1}
    after = logged_keys(log)
    assert after[:len(before)] == before  # append-only
    assert len(after) == len(set(after)) == sum(first.values()) + sum(second.values()) <= BUDGET
    sidecar = json.loads((run / "patch.json").read_text())
    assert sidecar["step"] == STEPS and sidecar["queries"]["spent"] == len(after)
    # the resumed process met each of the second server's faults once, retried it, and counted it
    assert sidecar["queries"]["failures"] == {"timeout": 1, "server_error": 1, "connection": 1, "malformed": 1,
                                              "rate_limited": 0}


def endpoint(url: str, names_file: Path, **changes):
    return load(url, Settings(**{"family": "classifier", "imgsz": 32, "names_file": str(names_file),
                                 "scores": "predictions.0.probs", "timeout_s": TIMEOUT_S, "retries": 1,
                                 "backoff_s": 0.01, "backoff_cap_s": 0.05, **changes}))


def test_a_batch_that_fails_part_way_keeps_the_answers_it_got(resnet, cifar_holdout_images, cifar_names, tmp_path):
    """Answers are logged as they arrive: a batch whose third image cannot be answered has paid for two, and a
    later account on the same log asks for the other two only."""
    log = tmp_path / "queries.log"
    with ModelServer(resnet, ["ok", "ok"], then="500") as server:
        account = Account(endpoint(server.url, cifar_names, concurrency=1), budget=100, batch=4, log_path=log)
        with pytest.raises(UserError, match="did not answer after 2 tries"):
            account.query(cifar_holdout_images[:4])
    assert account.spent == 2 and len(logged_keys(log)) == 2
    expected, kept = resnet.query(cifar_holdout_images[:4]), read_log(log)
    assert list(kept) == logged_keys(log)  # in the order they came: images 0 and 1
    torch.testing.assert_close(torch.from_numpy(np.concatenate(list(kept.values()))), expected[:2], rtol=0,
                               atol=1e-6)

    with ModelServer(resnet) as server:
        again = Account(endpoint(server.url, cifar_names), budget=100, batch=4, log_path=log)
        probs = again.query(cifar_holdout_images[:4])
        counts = dict(server.counts)
    torch.testing.assert_close(probs, expected, rtol=0, atol=1e-6)
    assert set(counts) == {image_key(rgb) for rgb in uint8_images(cifar_holdout_images[2:4])} and again.spent == 4


def test_faults_cost_retries_but_never_pass_the_budget(resnet, cifar_holdout_images, cifar_names, tmp_path):
    log = tmp_path / "queries.log"
    with ModelServer(resnet, FAULTS.replace("slow", "429").split(",")) as server:
        victim = endpoint(server.url, cifar_names, retries=4, concurrency=2)
        account = Account(victim, budget=7, batch=3, log_path=log)
        probs = account.query(cifar_holdout_images[:6])
        seen = server.seen
        with pytest.raises(BudgetSpent):
            account.query(cifar_holdout_images[6:8])
        assert server.seen == seen  # a batch the budget cannot pay for is not sent at all
    torch.testing.assert_close(probs, resnet.query(cifar_holdout_images[:6]), rtol=0, atol=1e-6)
    assert victim.failures == {"timeout": 0, "server_error": 1, "connection": 1, "malformed": 1, "rate_limited": 1}
    assert seen == 6 + 4 and account.spent == len(logged_keys(log)) == 6
