"""`patchgen eval`: arguments are checked before anything loads, results replace the old ones only when all four
files are complete, and the record says which data folder was read (in full)."""

import hashlib
import json

import pytest

from patchgen.artifacts import load_artifact
from patchgen.data import load_scenes
from patchgen.detector_evaluation import evaluate
from patchgen.run_evaluation import write_report
from patchgen.victims import load_victim
from spine_helpers import on_targets, two_image_folder
from test_config_and_cli import one_error_line, run_cli, write_config

RESULTS = ("results.json", "results.md", "grid.png", "report.html")


def hashes(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in RESULTS}


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory, yolov5n_path, inria_dev):
    """A real two-step run on two INRIA images, trained and evaluated through the CLI."""
    root = tmp_path_factory.mktemp("evaluated")
    data = two_image_folder(inria_dev, root / "data")
    config = write_config(root / "c.yaml", yolov5n_path, data)
    result = run_cli("train", config, "--out", root / "run", "--quiet")
    assert result.returncode == 0, result.stderr
    return root / "run"


@pytest.mark.parametrize("batch", ["-1", "0"])
def test_a_bad_batch_is_one_line_and_the_previous_results_stay(evaluated_run, batch):
    before = hashes(evaluated_run / "eval")
    line = one_error_line(run_cli("eval", evaluated_run, "--batch", batch, "--quiet"))
    assert "--batch must be" in line and batch in line
    assert hashes(evaluated_run / "eval") == before


def test_a_failure_while_rendering_leaves_the_previous_results_whole(evaluated_run, yolov5n_path, inria_dev,
                                                                     one_torch_thread, monkeypatch):
    # The report page fails after results.json, results.md and grid.png are rendered: nothing of it may reach
    # the folder.
    before = hashes(evaluated_run / "eval")
    victim = load_victim(yolov5n_path, imgsz=320)
    scenes, _ = load_scenes(evaluated_run.parent / "data", 320, [0], labels="files", quiet=True)
    patch = load_artifact(evaluated_run)
    evaluation = evaluate(victim, scenes, patch, [0], on_targets(patch.size), progress=False)

    def broken(*args):
        raise ValueError("rendering failed")

    monkeypatch.setattr("patchgen.run_evaluation.report_page", broken)
    with pytest.raises(ValueError):
        write_report(evaluated_run / "eval", evaluation, {"victim": "changed"})
    assert hashes(evaluated_run / "eval") == before
    assert sorted(p.name for p in (evaluated_run / "eval").iterdir()) == sorted(RESULTS)  # no temporary left


def test_eval_says_which_data_folder_it_read_in_full(evaluated_run, inria_dev, tmp_path):
    two_image_folder(inria_dev, tmp_path / "other")
    result = run_cli("eval", evaluated_run, "--data", "other", "--out", tmp_path / "eval", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = str(tmp_path / "other")
    assert json.loads((tmp_path / "eval" / "results.json").read_text())["data"] == folder
    assert f"eval: {folder}: wrote" in result.stderr
    assert f"data: {folder}: 2 images" in result.stderr


def test_eval_refuses_an_out_that_is_a_file_before_loading(evaluated_run, tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("keep me\n")
    line = one_error_line(run_cli("eval", evaluated_run, "--out", target, "--quiet"))
    assert "is a file, not a folder" in line and target.read_text() == "keep me\n"



def test_eval_into_a_run_that_another_process_writes_is_refused(evaluated_run):
    from patchgen.run_lock import run_lock

    before = hashes(evaluated_run / "eval")
    with run_lock(evaluated_run):  # as a training into this folder would hold it
        line = one_error_line(run_cli("eval", evaluated_run, "--quiet"))
    assert "is in use by another patchgen process" in line
    assert hashes(evaluated_run / "eval") == before
