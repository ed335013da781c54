"""Calibration: chart PDF -> simulated print and photo -> markers, rectify, sample -> colour model, palette."""

import shutil
import subprocess

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from patchgen.cli import main
from patchgen.errors import UserError
from printing.chart import CHART_MARKER_IDS, chart_sheet, chart_spec
from printing.chart_reading import read_chart
from printing.colour_fit import delta_e2000_rgb, fit_colour_model
from printing.colour_model import load_colour_model
from printing.markers import apply_homography, detect_markers, homography_from_markers
from printing.palette import load_palette, non_printability_score
from printing.palette_from_photo import palette_from_colours, save_palette
from printing.pdf_render import render_pdf
from printing.physical_size import paper_size_mm
from printing.print_simulation import PrintColourDistortion, photograph
from printing.tiling import plan_pages


@pytest.fixture(scope="module")
def spec():
    return chart_spec()


@pytest.fixture(scope="module")
def printed_chart(spec, tmp_path_factory):
    """The chart PDF rendered by pdftoppm at 100 dpi, then through the known print colour distortion."""
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm not found: install the Debian package poppler-utils")
    folder = tmp_path_factory.mktemp("chart")
    sheet = chart_sheet(spec)
    render_pdf(sheet, plan_pages(sheet, paper_size_mm("A4"), allow_tiling=False), folder / "chart.pdf")
    subprocess.run(["pdftoppm", "-r", "100", "-png", "-singlefile", str(folder / "chart.pdf"), str(folder / "page")],
                   check=True)
    page = np.asarray(Image.open(folder / "page.png").convert("RGB"))
    return PrintColourDistortion().apply_uint8(page)


def _true_capture(rgb):
    x = torch.tensor(rgb, dtype=torch.float32).T[:, :, None]
    return PrintColourDistortion()(x)[:, :, 0].T.numpy()


def test_simulated_round_trip_recovers_the_distortion(spec, printed_chart):
    photo, _ = photograph(printed_chart, seed=3, blur_sigma=1.2, noise_sigma=0.02, jpeg_quality=80)
    reading = read_chart(photo, spec)
    assert reading.markers_found == sorted(CHART_MARKER_IDS)
    assert np.abs(reading.captured - _true_capture(reading.digital)).mean() < 0.01
    report = fit_colour_model(reading.digital, reading.captured, reading.heldout)
    assert report.identity_heldout_de2000_mean > 5  # the distortion is real...
    assert report.heldout_de2000_mean <= 2.0  # ...and the fit recovers it on cells it never saw
    assert report.cv_de2000["affine"] > report.cv_de2000[report.chosen]
    # Also on colours that are not on the chart at all.
    fresh = np.random.default_rng(7).random((400, 3))
    with torch.no_grad():
        predicted = report.model.map_colours(torch.tensor(fresh, dtype=torch.float32)).double().numpy()
    assert delta_e2000_rgb(predicted, _true_capture(fresh)).mean() <= 2.0


def test_upside_down_chart_reads_the_same(spec, printed_chart):
    upright = read_chart(photograph(printed_chart, seed=5)[0], spec)
    flipped = read_chart(photograph(printed_chart, seed=5, upside_down=True)[0], spec)
    assert flipped.markers_found == sorted(CHART_MARKER_IDS)
    assert np.abs(flipped.captured - upright.captured).max() < 0.03
    assert fit_colour_model(flipped.digital, flipped.captured, flipped.heldout).heldout_de2000_mean <= 2.0


def _hide_markers(photo, ids):
    photo = photo.copy()
    for marker_id, quad in detect_markers(photo).items():
        if marker_id in ids:
            x0, y0 = np.floor(quad.min(0)).astype(int) - 4
            x1, y1 = np.ceil(quad.max(0)).astype(int) + 4
            photo[y0:y1, x0:x1] = photo[y0 - 6, x0 - 6]  # paper around it: a thumb, a shadow, a crop
    return photo


def test_partly_hidden_chart_still_reads_and_mostly_hidden_is_a_user_error(spec, printed_chart):
    photo, _ = photograph(printed_chart, seed=11)
    three_left = _hide_markers(photo, {41, 42, 45})
    reading = read_chart(three_left, spec)
    assert reading.markers_found == [40, 43, 44]
    assert fit_colour_model(reading.digital, reading.captured, reading.heldout).heldout_de2000_mean <= 2.0
    two_left = _hide_markers(photo, {41, 42, 44, 45})
    with pytest.raises(UserError, match="only 2 of the chart's 6 markers"):
        read_chart(two_left, spec)


def test_photo_without_a_chart_is_a_user_error(spec, inria_dev, tmp_path, capsys):
    person = sorted((inria_dev / "images").iterdir())[1]
    with pytest.raises(UserError, match="no calibration-chart markers"):
        read_chart(np.asarray(Image.open(person).convert("RGB")), spec)
    assert main(["calibrate", "fit", str(person), "--out", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no calibration-chart markers" in err
    assert not (tmp_path / "m.json").exists()
    assert main(["calibrate", "fit", str(tmp_path / "missing.jpg")]) == 2
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    assert main(["calibrate", "fit", str(tmp_path / "broken.jpg")]) == 2


def test_cli_chart_fit_palette_end_to_end(printed_chart, tmp_path, capsys):
    assert main(["calibrate", "chart", "--out", str(tmp_path / "small.pdf"), "--paper", "A5"]) == 2
    assert "too small" in capsys.readouterr().err
    assert main(["calibrate", "chart", "--out", str(tmp_path / "chart.pdf")]) == 0
    assert (tmp_path / "chart.pdf").stat().st_size > 1000 and (tmp_path / "chart.json").is_file()
    photo_path = tmp_path / "photo.jpg"
    Image.fromarray(photograph(printed_chart, seed=2)[0]).save(photo_path, quality=92)
    model_path = tmp_path / "printer.safetensors"
    assert main(["calibrate", "fit", str(photo_path), "--chart", str(tmp_path / "chart.json"),
                 "--out", str(model_path)]) == 0
    model = load_colour_model(model_path)
    assert model.info["heldout_de2000_mean"] <= 2.0
    assert main(["calibrate", "palette", str(photo_path), "--colours", "24", "--out", str(tmp_path / "pal.txt")]) == 0
    palette = load_palette(tmp_path / "pal.txt")
    assert palette.shape == (24, 3)
    # The measured palette describes what this printer makes better than the generic default does.
    spec = chart_spec()
    captured = torch.tensor(read_chart(np.asarray(Image.open(photo_path).convert("RGB")), spec).captured,
                            dtype=torch.float32).T[:, :, None]
    assert non_printability_score(captured, palette) < non_printability_score(captured, load_palette())
    capsys.readouterr()


def test_palette_from_colours_picks_measured_colours(tmp_path):
    colours = np.random.default_rng(0).random((200, 3))
    picked = palette_from_colours(colours, k=12)
    assert picked.shape == (12, 3)
    assert all(np.any(np.all(np.isclose(colours, p), axis=1)) for p in picked)
    assert len({tuple(p) for p in picked}) == 12
    save_palette(tmp_path / "p.txt", picked, "test")
    assert np.allclose(load_palette(tmp_path / "p.txt").numpy(), picked, atol=1e-4)
    with pytest.raises(ValueError):
        palette_from_colours(colours, k=500)


def test_glare_on_some_cells_is_detected_and_left_out(spec, printed_chart):
    photo, _ = photograph(printed_chart, seed=13)
    assert read_chart(photo, spec).reliable.all()  # noise, blur and JPEG alone are not glare
    H = homography_from_markers(detect_markers(photo), spec["marker_layout"])
    glared = photo.copy()
    hit = [0, 17, 40]
    for index in hit:
        x, y, w, h = spec["cells"][index]["rect_mm"]
        centre = apply_homography(H, [[x + 0.65 * w, y + 0.5 * h]])[0]
        radius = np.linalg.norm(apply_homography(H, [[x, y]])[0] - apply_homography(H, [[x + 0.2 * w, y]])[0])
        cv2.circle(glared, tuple(int(v) for v in centre), int(radius), (255, 255, 255), -1)
    reading = read_chart(glared, spec)
    assert sorted(np.flatnonzero(~reading.reliable)) == hit
    ok = reading.reliable
    report = fit_colour_model(reading.digital[ok], reading.captured[ok], reading.heldout[ok])
    assert report.heldout_de2000_mean <= 2.0
