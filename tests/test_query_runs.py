"""Query runs through the real trainer against the real CIFAR ResNet20 reached by queries only: the budget is never
exceeded, a resumed run reproduces the uninterrupted one without asking any logged query again, a query log cut
mid-record reads back whole, and bad input is one line through the CLI."""

import json

import pytest
import torch
from safetensors.torch import load_file

from patchgen.queries import HEADER, Account, read_log
from patchgen.run_dir import read_metrics
from patchgen.training import train
from patchgen.victims import load_victim
from patchgen.victims.classifier import ClassifierVictim
from query_helpers import cat_patch, load, write_yaml
from test_config_and_cli import one_error_line, run_cli
from test_onnx_victim import export_classifier

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# a small query run: 2 antithetic pairs x batch 4 = 16 images a step, and the success check at each logged step
SMALL = {"optimizer.kind": "nes", "train.batch": 4, "train.log_every": 1}


def queries_settings(resnet20_path, data, **overrides) -> dict:
    overrides = {"victim_access": "query", **SMALL, **overrides}
    population = {f"optimizer.{overrides['optimizer.kind']}.population": overrides.pop("population", 2)}
    return cat_patch(resnet20_path, data, **population, **overrides)


def test_a_query_run_never_spends_past_its_budget(resnet20_path, cifar_three_classes, tmp_path):
    budget, per_step = 150, 16 + 4  # a step's candidates, then its success check (4 images of the patch as it is)
    config = load(queries_settings(resnet20_path, cifar_three_classes, **{"train.steps": 40, "query.budget": budget,
                                                                         "train.checkpoint_every": 5}))
    run = train(config, tmp_path / "run", progress=False)
    logged = read_log(run / "queries.log")
    spent = json.loads((run / "patch.json").read_text())["queries"]["spent"]
    columns = [row["queries"] for row in read_metrics(run)]
    assert budget - per_step < len(logged) == spent <= budget  # it stopped only when the next step could not pay
    assert columns == sorted(columns) and 0 < columns[-1] == spent  # never above the budget, the last one all
    assert json.loads((run / "patch.json").read_text())["step"] == len(columns) < config.train.steps


def test_a_budget_that_cannot_pay_for_one_step_is_one_line(resnet20_path, cifar_three_classes, tmp_path):
    config = write_yaml(tmp_path / "c.yaml", queries_settings(resnet20_path, cifar_three_classes,
                                                              **{"query.budget": 10, "train.steps": 4}))
    result = run_cli("train", config, "--out", tmp_path / "run", "--no-eval", "--quiet")
    line = one_error_line(result)
    assert result.returncode == 2
    assert "query.budget 10 cannot pay for the first step" in line and "raise it" in line, line


def logged_keys(path) -> list[bytes]:
    """Every whole record's key in a query log, repeats included, in order (the file is not changed)."""
    data, keys, at = path.read_bytes(), [], 0
    while at + HEADER.size <= len(data):
        key, rows, columns = HEADER.unpack_from(data, at)
        at += HEADER.size + 4 * rows * columns
        if at > len(data):
            break
        keys.append(key)
    return keys


@pytest.mark.parametrize("kind, population", [("nes", 2), ("differential_evolution", 4), ("random_search", 2)])
def test_a_resumed_query_run_reproduces_the_uninterrupted_one(resnet20_path, cifar_three_classes, tmp_path,
                                                              monkeypatch, kind, population):
    """Stopped at step 5 with its checkpoint at 3, as a kill between checkpoints: the resume replays steps 4 and 5
    from the log, sends only steps 6 to 8, and ends with the uninterrupted run's patch, log and metrics."""
    config = load(queries_settings(resnet20_path, cifar_three_classes, **{
        "optimizer.kind": kind, "population": population, "train.steps": 8,
        "train.checkpoint_every": 3, "query.budget": 10_000}))
    straight = train(config, tmp_path / "straight", progress=False)
    run = tmp_path / "run"
    assert train(config, run, progress=False, stop_after=5) == run and not (run / "patch.json").exists()
    at_stop = logged_keys(run / "queries.log")

    sent = []
    query = ClassifierVictim.query
    monkeypatch.setattr(ClassifierVictim, "query", lambda self, images: sent.append(len(images)) or query(self, images))
    train(config, run, resume=True, progress=False)
    monkeypatch.undo()

    final = logged_keys(run / "queries.log")
    assert final == logged_keys(straight / "queries.log") and len(set(final)) == len(final)  # none repeated or lost
    assert final[:len(at_stop)] == at_stop and sum(sent) == len(final) - len(at_stop) > 0  # nothing asked again
    assert (run / "queries.log").read_bytes() == (straight / "queries.log").read_bytes()
    ours, theirs = load_file(run / "patch.safetensors"), load_file(straight / "patch.safetensors")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    spent = [json.loads((r / "patch.json").read_text())["queries"]["spent"] for r in (run, straight)]
    assert spent[0] == spent[1] == len(final)

    def rows(folder):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in read_metrics(folder)]

    assert rows(run) == rows(straight)  # the replayed step's row too, queries column included


@pytest.fixture(scope="module")
def resnet20(resnet20_path):
    return load_victim(f"cifar_resnet20:{resnet20_path}")


def test_a_log_cut_mid_record_reads_back_whole_and_goes_on(resnet20, cifar_three_classes, tmp_path):
    from patchgen.class_folders import load_class_images

    images = load_class_images(cifar_three_classes, resnet20, quiet=True)[0].images.float() / 255
    log = tmp_path / "queries.log"
    Account(resnet20, 100, 4, log).query(images[:6])
    whole = log.read_bytes()
    log.write_bytes(whole[:-7])  # a kill during the last record's write
    kept = read_log(log)
    assert len(kept) == 5 and log.read_bytes() == whole[:len(whole) * 5 // 6]  # the part cut off the file
    account = Account(resnet20, 100, 4, log)
    assert account.spent == 5
    probs = account.query(images[:8])  # pays for the lost sixth image and two new ones only
    assert account.spent == len(read_log(log)) == 8 and len(logged_keys(log)) == 8
    assert torch.allclose(probs, resnet20.query(images[:8]), atol=1e-6)


@pytest.fixture(scope="module")
def resnet20_onnx(resnet20, tmp_path_factory):
    return export_classifier(resnet20, tmp_path_factory.mktemp("onnx") / "resnet20.onnx", {0: "batch"})


BAD_INPUT = {
    "an ONNX file that is no model": ({"victim": "JUNK", "optimizer.kind": "random_search"},
                                      "junk.onnx is not an ONNX model"),
    "a budget of 0": ({"optimizer.kind": "random_search", "query.budget": 0}, "'query.budget' = 0"),
    "adam on an ONNX model": ({"victim": "ONNX", "optimizer.kind": "adam"},
                              "'optimizer.kind' = 'adam' needs gradients, but"),
    "adam by queries": ({"victim_access": "query", "optimizer.kind": "adam"},
                        "'optimizer.kind' = 'adam' needs gradients, but victim_access is query"),
    "a budget on a white-box run": ({"optimizer.kind": "adam", "query.budget": 500},
                                    "config key 'query.budget' is never read by this run"),
    "nes settings on a random search": ({"optimizer.kind": "random_search", "optimizer.nes.sigma": 0.1},
                                        "'optimizer.nes.sigma' = 0.1 is never read by this run"),
    "an ONNX model white-box": ({"victim": "ONNX", "victim_access": "white_box", "optimizer.kind": "nes"},
                                "answers queries only"),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_one_line_and_exit_2(resnet20_path, resnet20_onnx, cifar_three_classes, tmp_path, case):
    changes, says = BAD_INPUT[case]
    junk = tmp_path / "junk.onnx"
    junk.write_text("not a model\n")
    victim = {"JUNK": str(junk), "ONNX": str(resnet20_onnx)}.get(changes.get("victim"), None)
    settings = cat_patch(resnet20_path, cifar_three_classes, **{"train.steps": 2, "train.batch": 4, **changes})
    if victim:  # an ONNX victim: its own settings, and the goal 'untargeted' (its class names are 0..9)
        settings.update(victim=victim, goal="untargeted")
        settings.pop("goal_class")
    config = write_yaml(tmp_path / "c.yaml", settings)
    result = run_cli("train", config, "--out", tmp_path / "run", "--no-eval", "--quiet")
    line = one_error_line(result)
    assert result.returncode == 2 and says in line, line
    assert not (tmp_path / "run" / "queries.log").exists()


def test_an_endpoint_that_never_answers_is_one_line(resnet20, cifar_three_classes, tmp_path):
    """Every try times out (test_http_victim.py covers refused connections and HTTP errors): one line, nothing paid
    for, nothing logged."""
    from http_model_server import ModelServer

    from patchgen.errors import UserError
    from patchgen.victims.http_endpoint import Settings, load as endpoint

    names = tmp_path / "cifar10.txt"
    names.write_text("\n".join(resnet20.names) + "\n")
    log = tmp_path / "queries.log"
    with ModelServer(resnet20, then="slow", slow_s=1.0) as server:
        victim = endpoint(server.url, Settings(family="classifier", imgsz=32, names_file=str(names),
                                               scores="predictions.0.probs", timeout_s=0.2, retries=1,
                                               backoff_s=0.01, backoff_cap_s=0.05))
        account = Account(victim, 100, 4, log)
        with pytest.raises(UserError) as caught:
            account.query(torch.rand(2, 3, 32, 32))
    message = str(caught.value)
    assert "\n" not in message and "did not answer after 2 tries (last: no answer within 0.2 s)" in message, message
    assert account.spent == 0 and not log.exists()
