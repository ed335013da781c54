"""Issue 11, `patchgen export` of a texture or camouflage run: --size is one tile's repeat. The tile PNG has the
repeat's pixels at its DPI and stays seamless, the PDF sheet's repeat measured with pdftoppm is the repeat, and a
camouflage's palette gets its swatch."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from test_config_and_cli import one_error_line, run_cli
from test_printing_export import _pdftoppm

from capture.synthetic import UnloadedVictim, sheet_from_export
from patchgen import run_dir as run_files
from patchgen.artifacts.camouflage import Camouflage, palette_from_photo
from patchgen.artifacts.texture import Texture
from patchgen.config import RunConfig, from_dict, placement_kind
from patchgen.image_io import read_image
from printing.markers import detect_markers
from printing.texture_export import export_texture

TILE_PX, CELL = 64, 4


def save_run(run_dir: Path, artifact, artifact_config: dict) -> Path:
    """A run directory as training leaves it: the real artifact class saves its files and sidecar keys."""
    config = from_dict(RunConfig, {"victim": "yolov5n.pt", "artifact": artifact_config})
    sidecar = run_files.artifact_sidecar(config, UnloadedVictim("detector"), 0, {}, {}, placement_kind(config),
                                         artifact.sidecar())
    run_dir.mkdir(parents=True)
    run_files.save_artifact(run_dir, artifact, sidecar)
    return run_dir


def texture_run(run_dir: Path, image_path, shift_cells: int = 0) -> Path:
    """A texture whose cells are a real photo shrunk to 16 x 16 (the tile: those cells upsampled with
    wrap-around, seamless), optionally rolled by `shift_cells` both ways."""
    photo = read_image(image_path)
    side = min(photo.shape[:2])
    cells = cv2.resize(photo[:side, :side], (TILE_PX // CELL,) * 2, interpolation=cv2.INTER_AREA)
    cells = np.roll(cells, (shift_cells, shift_cells), (0, 1))
    texture = Texture(TILE_PX, cell=CELL)
    texture.logits.data.copy_(torch.logit(torch.from_numpy(cells).permute(2, 0, 1).float().div(255).clamp(0.02, 0.98)))
    return save_run(run_dir, texture, {"kind": "texture", "size": TILE_PX, "cell": CELL})


@pytest.fixture
def photo(inria_dev):
    return sorted((inria_dev / "images").iterdir())[0]


@pytest.fixture
def run(tmp_path, photo):
    return texture_run(tmp_path / "texture_run", photo)


def test_tile_png_is_the_repeat_at_its_dpi_and_stays_seamless(run, tmp_path, photo):
    result = export_texture(run, "5cm", dpi=254)  # 10 px/mm: a 500 px repeat
    png = Image.open(result.tile_png)
    assert png.size == (500, 500) and png.info["dpi"][0] == pytest.approx(254, abs=0.5)
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["repeat_mm"] == 50.0 and sidecar["tile_png"]["size_px"] == 500
    tile = np.asarray(png.convert("RGB")).astype(int)
    # Seamless: the seams are resampled like any other pixel, so the same texture rolled half a tile (its seams
    # now in the middle) gives the same PNG rolled half a repeat. A resize that treats the tile's edges as edges
    # differs near them (by 7 levels on this tile).
    rolled_run = texture_run(tmp_path / "rolled_run", photo, shift_cells=TILE_PX // CELL // 2)
    rolled = np.asarray(Image.open(export_texture(rolled_run, "5cm", dpi=254).tile_png).convert("RGB")).astype(int)
    assert np.abs(np.roll(tile, (250, 250), (0, 1)) - rolled).max() <= 1
    preview = np.asarray(Image.open(result.preview).convert("RGB"))
    assert preview.shape == (3 * TILE_PX, 3 * TILE_PX, 3)
    assert (preview[:TILE_PX, :TILE_PX] == preview[TILE_PX:2 * TILE_PX, 2 * TILE_PX:]).all()


def _period_px(strip: np.ndarray, expected: float, axis: int) -> float:
    """The shift (sub-pixel) in [expected/2, 3 expected/2] at which the strip best matches itself."""
    strip = strip.astype(np.float32)
    shifts = np.arange(int(expected / 2), int(1.5 * expected))
    n = strip.shape[axis]
    costs = np.array([np.abs(strip.take(range(0, n - d), axis) - strip.take(range(d, n), axis)).mean()
                      for d in shifts])
    i = int(np.argmin(costs))
    a, b, c = costs[i - 1], costs[i], costs[i + 1]
    return float(shifts[i] + 0.5 * (a - c) / (a - 2 * b + c))


def test_pdf_sheet_repeats_at_the_repeat_size_and_fills_the_page(run, tmp_path):
    result = export_texture(run, "5cm", dpi=150, paper="A4", write_png=False)
    assert result.pages == 1 and result.tile_png is None
    dpi = 100
    (page,) = _pdftoppm(result.pdf, dpi, tmp_path / "sheet")
    s = dpi / 25.4
    ink = page.min(axis=2) < 235
    _n, _labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    x, y, w, h = stats[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])), :4]
    pattern_w, pattern_h = json.loads(result.sidecar.read_text())["pdf"]["pattern_mm"]
    assert abs(w / s - pattern_w) / pattern_w < 0.01 and abs(h / s - pattern_h) / pattern_h < 0.01
    # most of A4's 198 x 285 mm printable area, less the markers' 19 mm band round the tiling
    assert pattern_w > 150 and pattern_h > 230
    pattern = page[y + 2:y + h - 2, x + 2:x + w - 2]
    for axis in (0, 1):
        period_mm = _period_px(pattern, 50 * s, axis) / s
        assert abs(period_mm - 50) / 50 < 0.01, (axis, period_mm)


def test_camouflage_gets_its_palette_swatch_and_keeps_its_colours(tmp_path, shared_assets):
    reference = sorted((shared_assets / "data" / "inria_test_pos" / "dev" / "images").iterdir())[1]
    palette = palette_from_photo(reference, 4)
    camouflage = Camouflage(TILE_PX, palette, cell=8, init="random", generator=torch.Generator().manual_seed(0))
    run = save_run(tmp_path / "camo_run", camouflage.eval(),
                   {"kind": "camouflage", "size": TILE_PX, "cell": 8, "colours": 4, "reference": str(reference)})
    colours = run_files.read_sidecar(run)["palette"]
    result = export_texture(run, "4cm", dpi=150)

    swatch = np.asarray(Image.open(result.swatch).convert("RGB"))
    for colour in colours:  # each colour's block (20 x 12 mm at 150 dpi, ~8,000 px) is there
        assert (swatch == colour).all(axis=2).sum() > 5000
    entries = json.loads(result.sidecar.read_text())["palette"]["colours"]
    assert [e["rgb"] for e in entries] == colours
    lab = cv2.cvtColor(np.asarray(colours, np.float32)[None] / 255, cv2.COLOR_RGB2Lab)[0]
    assert np.abs(np.array([e["lab"] for e in entries]) - lab).max() < 0.5
    assert sum(e["share_percent"] for e in entries) == pytest.approx(100, abs=0.1)
    tile = np.asarray(Image.open(result.tile_png).convert("RGB")).reshape(-1, 3)
    assert (tile[:, None] == np.asarray(colours)[None]).all(axis=2).any(axis=1).all()  # only palette colours


def test_texture_size_is_one_length_through_the_cli(run):
    line = one_error_line(run_cli("export", run, "--size", "30x20cm"))
    assert "does not keep the artifact's aspect ratio (1.000); give one length" in line
    assert not (run / run_files.EXPORT).exists()
    result = run_cli("export", run, "--size", "8cm", "--dpi", "100", "--any-size")
    assert result.returncode == 0, result.stderr
    assert "at a 80.0 mm repeat" in result.stdout
    written = sorted(p.name for p in (run / run_files.EXPORT).iterdir())
    assert written == ["texture_80mm_a4.json", "texture_80mm_a4.pdf", "texture_80mm_a4.png",
                       "texture_80mm_a4_preview.png", "texture_80mm_a4_tile.png"]
    # The whole sheet's PNG: its markers where the sidecar's layout and pixel geometry put them.
    sheet, layout = sheet_from_export(run / run_files.EXPORT / "texture_80mm_a4.json")
    found = detect_markers(sheet.image)
    assert sorted(found) == sorted(m["id"] for m in layout["markers"]) == [46, 47, 48, 49]
    for marker_id, corners in sheet.marker_corners_px.items():
        assert np.abs(found[marker_id] - corners).max() < 1.0
