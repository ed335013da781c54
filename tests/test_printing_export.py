"""PDF/PNG export at exact physical size: rendered back with pdftoppm, measured, markers decoded, tiles checked."""

import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest
from PIL import Image

from capture.synthetic import write_run
from patchgen import run_dir as run_files
from patchgen.cli import main
from patchgen.errors import UserError
from printing.export import export_run
from printing.markers import detect_markers, homography_from_markers
from printing.physical_size import paper_size_mm, parse_length_mm, parse_size_mm


@pytest.fixture
def run_dir(tmp_path, inria_dev):
    """A stand-in for a training run: a real image crop as the patch (RGBA, opaque) and its sidecar."""
    image = Image.open(sorted((inria_dev / "images").iterdir())[0]).convert("RGB")
    side = min(image.size)
    patch = np.asarray(image.crop((0, 0, side, side)).resize((96, 96)))
    # Keep the patch off paper-white so its printed outline can be measured.
    patch = (patch.astype(np.float32) * 0.8).astype(np.uint8)
    return write_run(tmp_path / "run_test", patch, size_mm=None, victim="yolov5n")


def _pdftoppm(pdf, dpi, out_prefix):
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm not found: install the Debian package poppler-utils")
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(out_prefix)], check=True)
    pages = sorted(out_prefix.parent.glob(out_prefix.name + "-*.png"))
    return [np.asarray(Image.open(p).convert("RGB")) for p in pages]


def _largest_ink_box(page):
    """Bounding box (w, h) in px of the largest connected non-white region: the artifact."""
    ink = (page.min(axis=2) < 235).astype(np.uint8)
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return stats[biggest, cv2.CC_STAT_WIDTH], stats[biggest, cv2.CC_STAT_HEIGHT]


def test_size_strings_parse_and_bad_ones_are_user_errors():
    assert parse_length_mm("30cm") == 300.0
    assert parse_length_mm("300mm") == 300.0
    assert parse_length_mm("12in") == pytest.approx(304.8)
    assert parse_length_mm(" 2.5 cm ") == 25.0
    assert parse_size_mm("30cm", 2.0) == (300.0, 150.0)
    assert parse_size_mm("20x30cm", 2 / 3) == (200.0, 300.0)
    for bad in ("30", "thirty cm", "30 furlongs", "0mm", "-3cm", ""):
        with pytest.raises(UserError):
            parse_length_mm(bad)
    with pytest.raises(UserError):
        parse_size_mm("30x30cm", 2.0)  # does not keep the aspect ratio
    with pytest.raises(UserError):
        paper_size_mm("B7")
    assert paper_size_mm("letter") == (215.9, 279.4)


def test_pdf_is_exact_size_and_every_marker_decodes(run_dir, tmp_path):
    result = export_run(run_dir, "12cm", dpi=150, paper="A4")
    assert result.pages == 1
    (page,) = _pdftoppm(result.pdf, 150, tmp_path / "page")
    px_per_mm = 150 / 25.4
    assert abs(page.shape[0] - 297 * px_per_mm) <= 1 and abs(page.shape[1] - 210 * px_per_mm) <= 1  # A4
    w_px, h_px = _largest_ink_box(page)
    assert abs(w_px / px_per_mm - 120) / 120 < 0.01
    assert abs(h_px / px_per_mm - 120) / 120 < 0.01

    sidecar = json.loads(result.sidecar.read_text())
    layout = sidecar["marker_layout"]
    assert sidecar["physical_size_mm"] == [120.0, 120.0] and layout["artifact_size_mm"] == [120.0, 120.0]
    found = detect_markers(page)
    assert sorted(found) == sorted(m["id"] for m in layout["markers"]) == [0, 1, 2, 3]
    # The markers sit where the layout says: the homography's scale is the render's px/mm.
    H = homography_from_markers(found, layout)
    assert H[0, 0] == pytest.approx(px_per_mm, rel=0.01) and H[1, 1] == pytest.approx(px_per_mm, rel=0.01)
    assert run_files.read_sidecar(run_dir)["physical_size_mm"] == [120.0, 120.0]


def test_png_for_print_shops_is_exact_size_at_its_dpi(run_dir):
    result = export_run(run_dir, "100mm", dpi=200, paper="A4")
    info = json.loads(result.sidecar.read_text())["png"]
    image = np.asarray(Image.open(result.png).convert("RGB"))
    assert Image.open(result.png).info["dpi"][0] == pytest.approx(200, abs=0.5)
    w_px, h_px = _largest_ink_box(image)
    assert abs(w_px / info["px_per_mm"] - 100) < 1.0 and abs(h_px / info["px_per_mm"] - 100) < 1.0
    assert sorted(detect_markers(image)) == [0, 1, 2, 3]


def test_large_print_is_tiled_with_overlap_and_alignment_marks(run_dir, tmp_path):
    result = export_run(run_dir, "30cm", dpi=100, paper="A4", write_png=False)
    sidecar = json.loads(result.sidecar.read_text())
    pdf = sidecar["pdf"]
    assert result.pages == pdf["pages"] == pdf["rows"] * pdf["cols"] > 1
    dpi = 60
    pages = _pdftoppm(result.pdf, dpi, tmp_path / "tile")
    assert len(pages) == result.pages
    s = dpi / 25.4

    def page_px(tile, x_mm, y_mm):
        wx, wy = tile["window_mm"][:2]
        return int(round((x_mm - wx + tile["margin_mm"]) * s)), int(round((y_mm - wy + tile["margin_mm"]) * s))

    def inside(tile, x, y, pad=0.0):
        wx, wy, ww, wh = tile["window_mm"]
        return wx + pad <= x <= wx + ww - pad and wy + pad <= y <= wy + wh - pad

    # Neighbouring tiles overlap by the stated strip.
    tiles = pdf["tiles"]
    first, right = tiles[0], next(t for t in tiles if t["row"] == 0 and t["col"] == 1)
    overlap = first["window_mm"][0] + first["window_mm"][2] - right["window_mm"][0]
    assert overlap == pytest.approx(pdf["overlap_mm"]) and overlap >= 10

    # Every alignment mark is printed on at least two pages (a dark cross at the same sheet point).
    assert pdf["alignment_marks_mm"]
    for x, y in pdf["alignment_marks_mm"]:
        holders = [i for i, t in enumerate(tiles) if inside(t, x, y, pad=4)]
        assert len(holders) >= 2
        for i in holders:
            u, v = page_px(tiles[i], x, y)
            assert pages[i][v - 1:v + 2, u - 1:u + 2].min() < 128

    # The artifact agrees across a seam: the same sheet point has the same colour on both pages.
    seam_x = right["window_mm"][0] + overlap / 2
    for y in (40.0, 150.0, 260.0):
        holders = [i for i, t in enumerate(tiles) if inside(t, seam_x, y, pad=3)]
        assert len(holders) >= 2
        colours = [pages[i][page_px(tiles[i], seam_x, y)[::-1]].astype(int) for i in holders]
        assert np.abs(colours[0] - colours[1]).max() <= 12

    # Every marker decodes on some page.
    seen = set()
    for page in pages:
        seen |= set(detect_markers(page))
    assert seen == {0, 1, 2, 3}


def test_cli_export_errors_are_one_line(run_dir, capsys, tmp_path):
    assert main(["export", str(run_dir), "--size", "30cm", "--paper", "A4", "--no-tile"]) == 2
    err = capsys.readouterr().err.strip()
    assert "does not fit" in err and "\n" not in err and "Traceback" not in err
    assert not (run_dir / run_files.EXPORT).exists()  # nothing half-written
    assert main(["export", str(run_dir), "--size", "30 bananas"]) == 2
    assert main(["export", str(run_dir), "--size", "10cm", "--paper", "B9"]) == 2
    assert main(["export", str(run_dir), "--size", "10cm", "--dpi", "5"]) == 2
    assert main(["export", str(tmp_path / "nope"), "--size", "10cm"]) == 2
    (run_dir / run_files.ARTIFACT_PNG).write_bytes(b"not a png")
    assert main(["export", str(run_dir), "--size", "10cm"]) == 2
    capsys.readouterr()


def test_cli_export_writes_pdf_png_and_sidecar(run_dir, capsys):
    assert main(["export", str(run_dir), "--size", "8cm", "--paper", "Letter", "--dpi", "150", "--any-size"]) == 0
    out = capsys.readouterr().out
    assert ".pdf" in out and ".png" in out
    sidecars = list((run_dir / run_files.EXPORT).glob("*.json"))
    assert len(sidecars) == 1
    sidecar = json.loads(sidecars[0].read_text())
    assert sidecar["paper"] == "Letter" and sidecar["physical_size_mm"] == [80.0, 80.0]
    assert (run_dir / run_files.EXPORT / sidecar["pdf"]["path"]).stat().st_size > 1000


def test_transparent_pixels_print_as_paper(tmp_path):
    """A circular patch: outside its mask is unprinted paper, inside is ink, and the size is the mask's box."""
    yy, xx = np.mgrid[:64, :64]
    alpha = (((xx - 31.5) ** 2 + (yy - 31.5) ** 2) <= 32 ** 2).astype(np.uint8) * 255
    rgba = np.dstack([np.full((64, 64), 40, np.uint8), np.full((64, 64), 90, np.uint8),
                      np.full((64, 64), 160, np.uint8), alpha])
    run = write_run(tmp_path / "circle_run", rgba, size_mm=None, victim="v.pt")
    result = export_run(run, "80mm", dpi=150, paper="A5")
    (page,) = _pdftoppm(result.pdf, 150, tmp_path / "circle")
    s = 150 / 25.4
    w_px, h_px = _largest_ink_box(page)
    assert abs(w_px / s - 80) < 0.8 and abs(h_px / s - 80) < 0.8
    # Where is the artifact on the page? From the markers: its centre is ink, its corner is paper.
    layout = json.loads(result.sidecar.read_text())["marker_layout"]
    H = homography_from_markers(detect_markers(page), layout)
    centre = (H @ [40, 40, 1])[:2] / (H @ [40, 40, 1])[2]
    corner = (H @ [3, 3, 1])[:2] / (H @ [3, 3, 1])[2]
    assert np.abs(page[int(centre[1]), int(centre[0])].astype(int) - [40, 90, 160]).max() < 10
    assert page[int(corner[1]), int(corner[0])].min() > 245


def test_long_caption_wraps_instead_of_widening_the_print(run_dir):
    meta = run_files.read_sidecar(run_dir)
    meta["victim"] = "/very/long/path/" + "to/a/model/" * 12 + "yolov5n_coco_state_dict_fp16_with_a_long_name.pt"
    meta["target_classes"] = ["person", "bicycle", "car", "motorcycle", "bus", "truck"]
    run_files.write_sidecar(run_dir, meta)
    result = export_run(run_dir, "15cm", dpi=100, paper="A4", write_png=False)
    assert result.pages == 1
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["source"]["target_classes"][0] == "person"
