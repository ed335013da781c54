"""What a run says and keeps: a header and one line per logged step as it trains, the device and versions it ran
with in run.json, a new folder for each evaluation with a report that opens with the result and links the others."""

import html
import json
import platform
import re

import pytest
import torch

from patchgen import run_dir as run_files
from spine_helpers import two_image_folder
from test_config_and_cli import one_error_line, run_cli, write_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory, yolov5n_path, inria_dev):
    """A real two-step run, trained and evaluated through the CLI with its output shown (no --quiet)."""
    root = tmp_path_factory.mktemp("feedback")
    data = two_image_folder(inria_dev, root / "data")
    config = write_config(root / "c.yaml", yolov5n_path, data, "  log_every: 1\nartifact:\n  size: 32\n")
    result = run_cli("train", config, "--out", root / "run")
    assert result.returncode == 0, result.stderr
    return root / "run", result.stderr


def test_training_opens_with_a_header_of_versions_device_and_what_it_trains(trained, yolov5n_path):
    _, said = trained
    said = said[said.index("patchgen 0."):]  # after what loading the victim and the data says
    first = said.splitlines()[0]
    assert " train · python " in first
    assert f"torch {torch.__version__.split('+')[0]}" in first and "ultralytics " in first and "kornia " in first
    header = dict(re.findall(r"^  (\w[\w ]*?)  +(.+)$", said.split("\nstep ")[0], re.M))  # train's, not eval's
    assert header["device"].startswith("cpu (") and "thread" in header["device"]
    assert header["victim"] == str(yolov5n_path) and header["input size"] == "320"
    assert header["goal"] == "vanish (person)" and header["artifact"] == "patch, 32 px, square"
    assert header["optimizer"].startswith("adam (lr 0.03") and "2 steps, batch 1" in header["optimizer"]


def test_each_logged_step_leaves_one_line_under_one_column_header(trained):
    _, said = trained
    lines = [line.split("\r")[-1] for line in said.splitlines()]  # the bar redraws with \r; tqdm.write's stay
    heads = [line for line in lines if re.match(r"^\s*step\s+loss\s+adversarial\s", line)]
    assert len(heads) == 1 and heads[0].split()[-1] == "elapsed" and "lr" in heads[0].split()
    rows = [line.split() for line in lines if re.match(r"^\s*\d+/2\s", line)]
    assert [row[0] for row in rows] == ["1/2", "2/2"]
    metrics = run_files.read_metrics(trained[0])
    assert [float(row[1]) for row in rows] == pytest.approx([m["loss"] for m in metrics], rel=1e-3)
    assert all(len(row) == len(heads[0].split()) and row[-1].endswith("s") for row in rows)


def test_run_json_holds_the_device_used_and_the_versions(trained):
    record = json.loads((trained[0] / run_files.RECORD).read_text())
    assert record["device"] == "cpu"  # the config says auto
    assert record["versions"]["python"] == platform.python_version()
    assert record["versions"]["torch"] == torch.__version__.split("+")[0]
    assert all(record["versions"][name] for name in ("patchgen", "ultralytics", "kornia"))


def lead_sentence(report: str) -> str:
    return html.unescape(re.search(r'<p class="lead">(.*?)</p>', report, re.S)[1])


def test_each_evaluation_gets_its_own_folder_and_the_report_links_the_others(trained):
    run, _ = trained
    first = (run / "eval" / "results.json").read_bytes()
    result = run_cli("eval", run, "--quiet")
    assert result.returncode == 0, result.stderr
    assert f"wrote {run / 'eval-2' / 'report.html'}" in result.stderr
    assert (run / "eval" / "results.json").read_bytes() == first  # the first is kept as it was
    assert all((run / folder / name).is_file() for folder in ("eval", "eval-2")
               for name in ("results.json", "results.md", "grid.png", "report.html"))
    report = (run / "eval-2" / "report.html").read_text()
    assert 'href="../eval/report.html"' in report and "<b>eval-2</b> (this)" in report
    assert 'src="../patch.png"' in report and "image-rendering:pixelated" in report and "width:256px" in report
    assert report.index('class="lead"') < report.index("<table") < report.index("<details")
    assert report.index("<details") < report.index("<b>victim</b>")  # the raw record is folded away


def test_the_report_opens_with_the_goal_rate_and_the_random_patch_rate(trained):
    run, _ = trained
    table = json.loads((run / "eval" / "results.json").read_text())["results"]
    sentence = lead_sentence((run / "eval" / "report.html").read_text())
    adv, noise = (f"{100 * table[c]['goal_rate']:.0f} %" for c in ("adv", "noise"))
    assert sentence == (f"The patch reaches its goal, vanish (person), in {adv} of cases against "
                        f"yolov5n_coco_state_dict_fp16 on 2 images; a random patch of the same size in the same "
                        f"place: {noise}.")


def test_an_out_that_holds_an_evaluation_is_refused_and_kept(trained):
    run, _ = trained
    before = (run / "eval" / "report.html").read_bytes()
    line = one_error_line(run_cli("eval", run, "--out", run / "eval", "--quiet"))
    assert f"--out {run / 'eval'} already holds an evaluation" in line and "leave --out out" in line
    assert (run / "eval" / "report.html").read_bytes() == before


def test_quiet_training_says_no_header_and_no_step_lines(tmp_path, yolov5n_path, inria_dev):
    data = two_image_folder(inria_dev, tmp_path / "data")
    config = write_config(tmp_path / "c.yaml", yolov5n_path, data, "  log_every: 1\n")
    result = run_cli("train", config, "--out", tmp_path / "run", "--quiet", "--no-eval")
    assert result.returncode == 0, result.stderr
    assert "python" not in result.stderr and "elapsed" not in result.stderr and "1/2" not in result.stderr
