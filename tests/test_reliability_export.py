"""Issue 9, `patchgen export`: each export of a run has its own marker ids, an export elsewhere leaves the run's
record alone, and a size, paper or page count out of range is one line that writes nothing."""

import hashlib
import json

import pytest

from test_config_and_cli import one_error_line, run_cli

from capture.synthetic import write_run
from patchgen import run_dir as run_files
from patchgen.image_io import read_image

PAPERS = "(A5, A4, A3, A2, Letter, Legal, Tabloid)"


@pytest.fixture
def run(tmp_path, shared_assets):
    patch = read_image(shared_assets / "peer_patches" / "thys2019_object_score.png", keep_alpha=True)
    return write_run(tmp_path / "run", patch, victim="yolov5n.pt")


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def marker_ids(sidecar):
    return [m["id"] for m in json.loads(sidecar.read_text())["marker_layout"]["markers"]]


def export(run, *args):
    result = run_cli("export", run, "--any-size", *args)  # sizes for ids and pages, not the training's
    assert result.returncode == 0, result.stderr
    return result


def test_each_export_of_a_run_has_its_own_marker_ids(run):
    export(run, "--size", "30cm", "--no-png")
    export(run, "--size", "8cm", "--no-png")
    big, small = run / run_files.EXPORT / "patch_300x300mm_a4.json", run / run_files.EXPORT / "patch_80x80mm_a4.json"
    assert marker_ids(big) == [0, 1, 2, 3]
    assert marker_ids(small) == [4, 5, 6, 7]
    # Re-exporting a size and paper replaces that export and keeps its ids.
    out = export(run, "--size", "8cm", "--no-png").stdout
    assert "ids 4, 5, 6, 7" in out
    assert marker_ids(small) == [4, 5, 6, 7] and len(list((run / run_files.EXPORT).glob("*.json"))) == 2


def test_export_elsewhere_leaves_the_run_record_alone(run, tmp_path):
    export(run, "--size", "30cm", "--no-png")
    before = digest(run / run_files.SIDECAR)
    elsewhere = tmp_path / "prints"
    export(run, "--size", "8cm", "--no-png", "--out", elsewhere)
    assert digest(run / run_files.SIDECAR) == before
    assert run_files.read_sidecar(run)["physical_size_mm"] == [300.0, 300.0]
    # Not one of the run's own ids either: a photo of this print is never read with the 30 cm layout.
    assert marker_ids(elsewhere / "patch_80x80mm_a4.json") == [4, 5, 6, 7]


def test_a_run_that_runs_out_of_marker_ids_says_so(run):
    for cm in range(10, 20):
        export(run, "--size", f"{cm}cm", "--no-png")
    before = {p: digest(run / run_files.EXPORT / p) for p in files_under(run / run_files.EXPORT)}
    line = one_error_line(run_cli("export", run, "--size", "25cm", "--no-png", "--any-size"))
    assert "this print needs 4 marker ids and its exports" in line
    assert "leave 0 free of those it draws from (0-39; 40-45 are the calibration chart's)" in line
    assert "delete an export you no longer print" in line
    assert {p: digest(run / run_files.EXPORT / p) for p in files_under(run / run_files.EXPORT)} == before
    export(run, "--size", "12cm", "--no-png")  # replacing one of them still works


@pytest.mark.parametrize("size", ["0.001mm", "10m"])
def test_size_out_of_range_is_one_line_and_writes_nothing(run, size):
    before = digest(run / run_files.SIDECAR)
    line = one_error_line(run_cli("export", run, "--size", size))
    assert line.startswith(f"patchgen export: error: the size '{size}' gives a ")
    assert line.endswith("mm print; each side must be between 1 cm and 5 m")
    assert not (run / run_files.EXPORT).exists()
    assert digest(run / run_files.SIDECAR) == before


def test_a_huge_export_says_how_many_pages_before_making_them(run):
    line = one_error_line(run_cli("export", run, "--size", "1.5m", "--no-png", "--any-size"))
    assert "needs 54 A4 pages (9 x 6), more than --max-pages 50: pass --max-pages 54 to make them" in line
    assert not (run / run_files.EXPORT).exists()
    # The PNG's pixel limit is checked before anything is written, too.
    line = one_error_line(run_cli("export", run, "--size", "1.5m", "--max-pages", "54", "--dpi", "600", "--any-size"))
    assert "over the 400 Mpx limit: lower --dpi to" in line and "or pass --no-png" in line
    assert not (run / run_files.EXPORT).exists()
    out = export(run, "--size", "1.5m", "--max-pages", "54", "--no-png").stdout.splitlines()
    assert out[1] == "1500 x 1500 mm over 54 A4 pages (9 x 6): rendering"  # after the size line
    assert "54 pages (tiled)" in out[2]


def test_unknown_paper_is_named_as_such(run, tmp_path):
    line = one_error_line(run_cli("export", run, "--size", "10cm", "--paper", "B9"))
    assert line == f"patchgen export: error: unknown paper 'B9' {PAPERS}"
    line = one_error_line(run_cli("calibrate", "chart", "--paper", "B9", "--out", tmp_path / "chart.pdf"))
    assert line == f"patchgen calibrate: error: unknown paper 'B9' {PAPERS}"
    assert not (run / run_files.EXPORT).exists() and not (tmp_path / "chart.pdf").exists()
