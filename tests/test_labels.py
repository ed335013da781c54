"""Labels: every bad line is one warning naming file and line, counted in the run's record, never used raw; and
`labels: auto` takes each image's YOLO file where it has one and a pseudo-label where it has none."""

import json

import numpy as np

from patchgen.data import load_scenes
from patchgen.training import Setup
from patchgen.victims import load_victim
from spine_helpers import small_config, two_image_folder
from test_config_and_cli import run_cli, write_config

BAD_LINES = [
    "person 0.5 0.5 0.2 0.4",  # a class name
    "0 0.5 abc 0.2 0.4",  # a non-numeric field
    "0 nan 0.5 0.2 0.4",  # NaN
    "0 0.5 0.5 0.2",  # a short line
    "0 382 505 142 520",  # pixels, not fractions
    "0 -0.3 0.5 0.2 0.2",  # wholly left of the image
]
PARTLY_OUTSIDE = "0 0.95 0.5 0.2 0.4"  # reaches 5% past the right edge: clipped


def test_bad_label_lines_are_warned_by_file_and_line_and_counted_in_the_run(tmp_path, yolov5n_path, inria_dev):
    data = two_image_folder(inria_dev, tmp_path / "data")
    label = data / "labels" / "crop001501.txt"
    good = label.read_text().splitlines()
    label.write_text("\n".join(good + BAD_LINES + [PARTLY_OUTSIDE]) + "\n")
    (data / "labels" / "person_007.txt").write_bytes(b"\xff\xfe\x00binary, not a label file")
    config = write_config(tmp_path / "c.yaml", yolov5n_path, data)

    result = run_cli("train", config, "--out", tmp_path / "run", "--quiet", "--no-eval")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    first_bad = len(good) + 1
    for offset in range(len(BAD_LINES)):
        assert sum(f"{label}:{first_bad + offset}: " in w and "line skipped" in w for w in warnings) == 1, warnings
    assert sum(f"{label}:{first_bad + len(BAD_LINES)}: " in w and "clipped" in w for w in warnings) == 1
    assert sum("person_007.txt" in w for w in warnings) == 1
    assert len(warnings) == len(BAD_LINES) + 2
    assert any("pixels" in w for w in warnings)

    record = json.loads((tmp_path / "run" / "patch.json").read_text())["data"]
    assert record["bad_label_lines"] == len(BAD_LINES) + 1 and record["clipped_boxes"] == 1
    assert record["targets"] == len(good) + 1  # the good boxes and the clipped one; nothing of the bad lines
    data_line = next(line for line in result.stderr.splitlines() if line.startswith("data:"))
    assert f"{len(BAD_LINES) + 1} bad label lines skipped" in data_line and "1 label boxes clipped" in data_line


def test_a_box_partly_outside_is_clipped_to_the_image(tmp_path, inria_dev):
    data = two_image_folder(inria_dev, tmp_path / "data")
    (data / "labels" / "crop001501.txt").write_text(PARTLY_OUTSIDE + "\n")
    scenes, report = load_scenes(data, 320, [0], labels="files", quiet=True)
    i = scenes.names.index("crop001501.jpg")
    x1, _, x2, _ = scenes.boxes[i, 0].tolist()
    assert x2 <= 320 + 1e-3 and abs(x1 - 0.85 * 320) < 1  # its right edge is the image's (no vertical pad here)
    assert report.clipped_boxes == 1


def test_a_label_in_pixels_does_not_size_the_eot_window(tmp_path, yolov5n_path, inria_dev, one_torch_thread):
    data = two_image_folder(inria_dev, tmp_path / "data")
    (data / "labels" / "crop001501.txt").write_text("0 382 505 142 520\n")
    setup = Setup(small_config(yolov5n_path, data), quiet=True)
    assert setup.window <= 320  # was 40,361 px here: the box read as 142 x 520 image sizes
    assert setup.data_report.bad_label_lines == 1


def test_auto_labels_are_per_image_files_where_present_pseudo_for_the_rest(tmp_path, yolov5n_path, inria_dev,
                                                                           monkeypatch):
    monkeypatch.setenv("PATCHGEN_CACHE", str(tmp_path / "cache"))
    data = two_image_folder(inria_dev, tmp_path / "data")
    by_file, _ = load_scenes(data, 320, [0], labels="files", quiet=True)
    (data / "labels" / "person_007.txt").unlink()
    victim = load_victim(yolov5n_path, imgsz=320)
    mixed, report = load_scenes(data, 320, [0], victim=victim, labels="auto", quiet=True)
    i = mixed.names.index("crop001501.jpg")
    n = int(by_file.mask[i].sum())
    assert n == int(mixed.mask[i].sum()) and np.allclose(mixed.boxes[i, :n], by_file.boxes[i, :n])
    assert (report.label_source, report.label_files, report.pseudo_labelled) == ("mixed", 1, 1)
    assert mixed.mask[mixed.names.index("person_007.jpg")].any()  # the clean victim found the person

    config = write_config(tmp_path / "c.yaml", yolov5n_path, data)
    result = run_cli("train", config, "--out", tmp_path / "run", "--quiet", "--no-eval")
    assert result.returncode == 0, result.stderr
    assert "(mixed: 1 from files, 1 pseudo labels)" in result.stderr
    record = json.loads((tmp_path / "run" / "patch.json").read_text())["data"]
    assert (record["labels"], record["label_files"], record["pseudo_labelled"]) == ("mixed", 1, 1)
