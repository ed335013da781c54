"""Issue 11, `patchgen export` of a sticker set: --size is the object's width x height. Every piece prints at its
share of the object's diagonal (measured with pdftoppm), the last page is the placement guide, and a size that is
not width x height is one line that writes nothing."""

import hashlib
import json
import math
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from test_config_and_cli import one_error_line, run_cli
from test_printing_export import _pdftoppm
from test_printing_textures import save_run

from patchgen import run_dir as run_files
from patchgen.artifacts.stickers import Stickers
from patchgen.config import RunConfig, from_dict
from patchgen.image_io import read_image
from printing.export import on_paper
from printing.sticker_export import export_stickers

PIECES = [{"centre": [0.3, 0.2], "side": 0.03, "shape": "circle"},
          {"centre": [0.7, 0.5], "side": 0.05, "shape": "square"},
          {"centre": [0.5, 0.85], "side": 0.02, "shape": "square"}]
OBJECT_MM = (600.0, 1700.0)


def sticker_run(run_dir: Path, images, pieces=PIECES) -> Path:
    """A sticker set whose pieces are real photos (darkened off paper-white, so their outline can be measured)."""
    artifact_config = {"kind": "stickers", "size": 48, "pieces": pieces}
    stickers = Stickers.from_config(from_dict(RunConfig, {"artifact": artifact_config}).artifact, None)
    for k in range(len(pieces)):
        photo = read_image(images[k])
        side = min(photo.shape[:2])
        rgb = cv2.resize(photo[:side, :side], (48, 48), interpolation=cv2.INTER_AREA)
        stickers.logits.data[k] = torch.logit(torch.from_numpy(rgb).permute(2, 0, 1).float().div(255).mul(0.8)
                                              .clamp(0.02, 0.98))
    return save_run(run_dir, stickers, artifact_config)


@pytest.fixture
def run(tmp_path, inria_dev):
    return sticker_run(tmp_path / "sticker_run", sorted((inria_dev / "images").iterdir()))


def piece_colour(run, piece):
    """The mean colour of the piece's middle (20-80 % of its side) as printed: what a render's middle must show."""
    rgb = on_paper(read_image(run / piece["file"], keep_alpha=True)).astype(float)
    n = rgb.shape[0]
    return rgb[int(0.2 * n):int(0.8 * n), int(0.2 * n):int(0.8 * n)].reshape(-1, 3).mean(0)


def test_every_piece_prints_at_its_physical_size(run, tmp_path):
    result = export_stickers(run, "60x170cm", dpi=150, paper="A4")
    sidecar = json.loads(result.sidecar.read_text())
    diagonal = math.hypot(*OBJECT_MM)
    dpi = 300  # a pixel is 0.3 % of the smallest piece (36 mm): the measure is the print's, not the render's
    pages = _pdftoppm(result.pdf, dpi, tmp_path / "stickers")
    # The two larger pieces with their markers on one page, the smallest on the next, then the guide.
    assert len(pages) == result.pages == 3 and sidecar["pdf"]["guide_page"] == 3
    s = dpi / 25.4
    for piece, asked in zip(sidecar["pieces"], PIECES, strict=True):
        assert piece["side_mm"] == pytest.approx(asked["side"] * diagonal)
        assert piece["centre_mm"] == pytest.approx([asked["centre"][0] * 600, asked["centre"][1] * 1700])
        x, y, w, h = piece["box_on_page_mm"]
        page = pages[piece["page"] - 1]
        # The window reaches 1.5 mm past the square, short of its crop marks: a piece printed larger fills it.
        x0, y0, x1, y1 = (int(round(v * s)) for v in (x - 1.5, y - 1.5, x + w + 1.5, y + h + 1.5))
        window = page[y0:y1, x0:x1]
        rows, cols = np.nonzero(window.min(axis=2) < 235)
        width_mm, height_mm = (cols.max() - cols.min() + 1) / s, (rows.max() - rows.min() + 1) / s
        assert abs(width_mm - piece["side_mm"]) / piece["side_mm"] < 0.01, (piece["number"], width_mm)
        assert abs(height_mm - piece["side_mm"]) / piece["side_mm"] < 0.01, (piece["number"], height_mm)
        # ... and it is that piece: its colours, not another's.
        inner = page[int((y + 0.2 * h) * s):int((y + 0.8 * h) * s), int((x + 0.2 * w) * s):int((x + 0.8 * w) * s)]
        printed = inner.reshape(-1, 3).astype(float).mean(0)
        own, others = piece_colour(run, piece), [piece_colour(run, p) for p in sidecar["pieces"] if p is not piece]
        assert np.abs(printed - own).max() < min(np.abs(printed - o).max() for o in others)
    for piece in sidecar["pieces"]:  # the print-shop PNG: the piece's side at the export's 150 dpi, alpha its shape
        png = cv2.imread(str(result.pdf.parent / piece["png"]["path"]), cv2.IMREAD_UNCHANGED)
        assert png.shape[:2] == (round(piece["side_mm"] * 150 / 25.4),) * 2 and png.shape[2] == 4
    circle = cv2.imread(str(result.pdf.parent / sidecar["pieces"][0]["png"]["path"]), cv2.IMREAD_UNCHANGED)
    assert circle[0, 0, 3] == 0 and circle[circle.shape[0] // 2, circle.shape[1] // 2, 3] == 255


def test_the_last_page_is_the_placement_guide(run, tmp_path):
    result = export_stickers(run, "60x170cm", dpi=150, paper="A4", write_png=False)
    sidecar = json.loads(result.sidecar.read_text())
    guide = sidecar["pdf"]["guide"]
    dpi = 100
    page = _pdftoppm(result.pdf, dpi, tmp_path / "guide")[sidecar["pdf"]["guide_page"] - 1]
    s = dpi / 25.4
    k = guide["scale"]
    x, y, w, h = guide["object_box_on_page_mm"]
    assert 0.1 < k < 0.2  # 1700 mm in A4's 285 mm, less the text
    assert w == pytest.approx(600 * k, abs=1e-3) and h == pytest.approx(1700 * k, abs=1e-3)
    # The outline is drawn where and as large as stated: dark columns at its sides, dark rows at its ends.
    dark = page.min(axis=2) < 128
    inside_rows = slice(int((y + 5) * s), int((y + h - 5) * s))
    inside_cols = slice(int((x + 5) * s), int((x + w - 5) * s))
    side_cols = np.nonzero(dark[inside_rows].mean(axis=0) > 0.9)[0] / s
    end_rows = np.nonzero(dark[:, inside_cols].mean(axis=1) > 0.9)[0] / s
    assert np.abs(side_cols[[0, -1]] - [x, x + w]).max() < 0.6
    assert np.abs(end_rows[[0, -1]] - [y, y + h]).max() < 0.6
    # Each piece is drawn at its place on the object, at the same scale.
    for piece in sidecar["pieces"]:
        cx, cy = x + piece["centre_mm"][0] * k, y + piece["centre_mm"][1] * k
        half = piece["side_mm"] * k / 2 * 0.6
        drawn = page[int((cy - half) * s):int((cy + half) * s), int((cx - half) * s):int((cx + half) * s)]
        own = piece_colour(run, piece)
        others = [piece_colour(run, p) for p in sidecar["pieces"] if p is not piece]
        printed = drawn.reshape(-1, 3).astype(float).mean(0)
        assert np.abs(printed - own).max() < min(np.abs(printed - o).max() for o in others)
    text = subprocess.run(["pdftotext", "-f", str(result.pages), "-l", str(result.pages), str(result.pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "placement guide for 3 stickers" in text and f"scale 1:{1 / k:.1f}" in text
    assert "1: 180, 340; 54 mm" in text  # centre and side of piece 1, in mm


def test_size_must_be_the_objects_width_and_height(run):
    before = hashlib.sha256((run / run_files.SIDECAR).read_bytes()).hexdigest()
    line = one_error_line(run_cli("export", run, "--size", "60cm"))
    assert line == ("patchgen export: error: stickers need the width x height of the object they go on, e.g. "
                    "--size 60x170cm; got '60cm'")
    assert not (run / run_files.EXPORT).exists()
    assert hashlib.sha256((run / run_files.SIDECAR).read_bytes()).hexdigest() == before
    result = run_cli("export", run, "--size", "60x170cm", "--dpi", "100")
    assert result.returncode == 0, result.stderr
    assert "3 stickers at physical size for a 600 x 1700 mm object" in result.stdout


def test_a_piece_larger_than_the_paper_is_tiled_or_refused(tmp_path, inria_dev):
    pieces = [dict(PIECES[0]), {**PIECES[1], "side": 0.2}]  # 361 mm across: more than A4's printable 198 mm
    run = sticker_run(tmp_path / "big_run", sorted((inria_dev / "images").iterdir()), pieces)
    line = one_error_line(run_cli("export", run, "--size", "60x170cm", "--no-tile"))
    assert "sticker 2 is 361 mm across, more than the printable 198 x 285 mm of A4" in line
    assert not (run / run_files.EXPORT).exists()
    result = export_stickers(run, "60x170cm", paper="A4", write_png=False)
    sidecar = json.loads(result.sidecar.read_text())
    big = sidecar["pieces"][1]
    assert big["box_on_page_mm"] is None and big["page"] == 2  # page 1 holds piece 1
    assert result.pages == 1 + 8 + 1  # piece 1, piece 2 with its 60 mm markers tiled over 8 pages, the guide
