"""Every numeric config key is range-checked at load, and a config error comes before torch loads."""

import subprocess
import sys

import pytest

from patchgen.config import load_config
from patchgen.errors import UserError
from test_config_and_cli import one_error_line, write_config


@pytest.mark.parametrize("assignment, shown, allowed", [
    ("optimizer.adam.lr_final=.nan", "'optimizer.adam.lr_final' = nan", "in [0, 1]"),
    ("optimizer.adam.lr=.inf", "'optimizer.adam.lr' = inf", "in (0, 10]"),
    ("optimizer.adam.lr=0", "'optimizer.adam.lr' = 0.0", "in (0, 10]"),
    (f"train.seed={2**64}", f"'train.seed' = {2**64}", f"in [0, {2**64 - 1}]"),
    ("train.seed=-1", "'train.seed' = -1", "in [0, "),
    ("data.max_targets=-1", "'data.max_targets' = -1", ">= 0"),
    ("data.pseudo_conf=0", "'data.pseudo_conf' = 0.0", "in (0, 1]"),
    ("eot.scale=[0,0]", "'eot.scale' = [0.0, 0.0]", "in (0, 10], low <= high"),
    ("eot.contrast=[1.2,0.8]", "'eot.contrast' = [1.2, 0.8]", "low <= high"),
    ("eot.blur_sigma=[0,1]", "'eot.blur_sigma' = [0.0, 1.0]", "in (0, 50]"),
    ("eot.noise=-.inf", "'eot.noise' = -inf", "in [0, 1]"),
    ("placement.anchor_y=1.5", "'placement.anchor_y' = 1.5", "in [0, 1]"),
    ("loss.weights.tv=1e300", "'loss.weights.tv' = 1e+300", "in [0, 1000]"),
    ("artifact.size=4", "'artifact.size' = 4", "in [8, 4096]"),
])  # fmt: skip
def test_an_out_of_range_number_names_key_value_and_range(assignment, shown, allowed):
    with pytest.raises(UserError) as caught:
        load_config(None, ["victim=x", "data.train=y", assignment])
    assert shown in str(caught.value) and allowed in str(caught.value), str(caught.value)


def test_config_errors_come_before_torch_loads():
    code = ("import sys\nfrom patchgen.config import load_config\nfrom patchgen.errors import UserError\n"
            "try:\n    load_config(None, ['victim=x', 'data.train=y', 'optimizer.adam.lr=.nan'])\n"
            "except UserError:\n    pass\nelse:\n    raise SystemExit('no error')\n"
            "loaded = [m for m in ('torch', 'ultralytics') if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def imported(stderr: str) -> set[str]:
    """Top-level modules named by `python -X importtime` lines."""
    return {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in stderr.splitlines()
            if line.startswith("import time:")}


def test_the_cli_reports_a_bad_config_before_importing_torch(tmp_path, yolov5n_path, inria_dev):
    config = write_config(tmp_path / "c.yaml", yolov5n_path, inria_dev, "optimizer: {adam: {lr_final: .nan}}\n")
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "patchgen.cli", "train", str(config),
                             "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert "torch" not in imported(result.stderr) and "ultralytics" not in imported(result.stderr)
    result.stderr = "\n".join(line for line in result.stderr.splitlines() if not line.startswith("import time:"))
    line = one_error_line(result)
    assert "'optimizer.adam.lr_final' = nan" in line and "[0, 1]" in line
    assert not (tmp_path / "run").exists()


def test_a_config_path_that_is_a_folder(tmp_path):
    with pytest.raises(UserError, match="is a folder, not a file"):
        load_config(tmp_path)


def test_a_palette_line_that_is_not_finite_is_one_line(tmp_path):
    from printing.palette import load_palette

    palette = tmp_path / "palette.txt"
    palette.write_text("0.5 0.5 0.5\nnan 0 0\n")
    with pytest.raises(UserError, match="three numbers 'r g b' in \\[0,1\\]"):
        load_palette(palette)
