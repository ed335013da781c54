"""`patchgen train --resume RUN` needs no config: RUN/config.yaml holds it, with the changes earlier resumes made."""

import json

import pytest

from patchgen.cli import main
from spine_helpers import two_image_folder
from patchgen.run_dir import read_metrics, read_record


@pytest.fixture(scope="module")
def people(inria_dev, tmp_path_factory):
    return two_image_folder(inria_dev, tmp_path_factory.mktemp("people"))


def train(*args) -> int:
    return main(["train", *map(str, args), "--quiet", "--no-eval"])


def test_resume_takes_the_runs_own_config(tmp_path, monkeypatch, capsys, people, yolov5n_path, one_torch_thread):
    monkeypatch.chdir(tmp_path)
    sets = ["--set", f"data.train={people}", "--set", f"victim={yolov5n_path}", "--set", "imgsz=160",
            "--set", "data.crop=0", "--set", "train.batch=2", "--set", "train.log_every=1",
            "--set", "train.checkpoint_every=1"]
    assert train("person-patch", "--out", "run", *sets, "--set", "train.steps=2") == 0, capsys.readouterr().err
    assert train("--resume", "run", "--set", "train.steps=4") == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "patch.json").read_text())["step"] == 4
    assert [row["step"] for row in read_metrics(tmp_path / "run")] == [1, 2, 3, 4]
    (resumed,) = read_record(tmp_path / "run")["resumes"]
    assert resumed["from_step"] == 2 and resumed["changes"] == {"train.steps": [2, 4]}

    # the old form, and a second resume that repeats nothing: train.steps stays at 4 (as the record has it), so
    # it continues from step 4 to the 6 asked for
    assert train("--resume", "--out", "run", "--set", "train.steps=6") == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "patch.json").read_text())["step"] == 6
    assert train("--resume", "run") == 0, capsys.readouterr().err  # finished: finishes again, nothing changed
    assert json.loads((tmp_path / "run" / "patch.json").read_text())["step"] == 6

    # what a resume may not change stays refused, with the config or without it
    assert train("--resume", "run", "--set", "train.seed=1") == 2
    assert "--resume refused" in capsys.readouterr().err
    assert train("person-patch", "--resume", "--out", "run", *sets, "--set", "train.steps=6", "--set",
                 "imgsz=192") == 2
    assert "--resume refused" in capsys.readouterr().err
    assert train("person-patch", "--resume", "--out", "run", *sets, "--set", "train.steps=6") == 0  # the same one


@pytest.mark.parametrize("args, said", [
    (["--resume"], "--resume needs the run to continue: patchgen train --resume RUN"),
    (["--resume", "nowhere"], "run directory not found: nowhere"),
    (["--resume", "empty"], "nothing to resume in empty (no config.yaml)"),
    (["--resume", "a.yaml", "--out", "run"], "--resume takes a run directory, and a.yaml is a file"),
    (["--resume", "one", "--out", "other"], "--resume one and --out other name two runs"),
])
def test_a_resume_without_its_run_is_one_line(args, said, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "a.yaml").write_text("victim: yolov8n.pt\n")
    assert train(*args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err
