"""Labels readable at the size they are viewed: grid titles scale with the tile, and a print's caption wraps
inside the sheet instead of running off the page, keeping every word."""

import numpy as np
import pytest
import yaml

from patchgen.demo import DEMO_CONFIG
from patchgen.plots import annotator, title
from printing.export_sheet import build_export_sheet, marker_geometry, wrap_caption
from printing.sheet import Text, text_width


def dark_rows(tile: np.ndarray) -> int:
    """How many rows from the top hold the title's black bar."""
    return int(np.where((tile == 0).all(2).any(1))[0].max()) + 1


@pytest.mark.parametrize("side", [160, 320, 640, 1280])
def test_a_tile_title_is_a_fixed_share_of_the_tile_on_a_dark_bar(side):
    tile = np.full((side, side, 3), 200, np.uint8)
    title(tile, "ADV")
    bar = dark_rows(tile)
    assert 0.04 * side <= bar <= 0.2 * side  # text >= ~2 % of the tile: readable once the grid is shrunk
    assert (tile[:bar, :1] == 0).all() and (tile[bar + 2:] == 200).all()  # drawn in place, the rest untouched


def test_box_labels_grow_with_the_tile():
    small, large = (np.full((s, s, 3), 200, np.uint8) for s in (320, 1280))
    for tile in (small, large):
        side = tile.shape[0]
        annotator(tile).box_label((side // 4, side // 3, side // 2, side * 3 // 4), "person 0.87", (255, 40, 40))
    painted = [int((tile != 200).any(2).sum()) for tile in (small, large)]
    assert painted[1] > 8 * painted[0]  # ~16x the area at 4x the side (Annotator on its own: ~4x)


def test_the_demo_caption_wraps_inside_its_sheet_and_keeps_every_word():
    classes = yaml.safe_load(DEMO_CONFIG.read_text())["target_classes"]
    parts = ["patchgen run demo", "140.0 x 140.0 mm", "victim nudenet-320n", f"target {', '.join(classes)}",
             "goal vanish", "step 300"]
    rgb = np.full((64, 64, 3), 128, np.uint8)
    sheet, _ = build_export_sheet(rgb, 140.0, 140.0, parts, [0, 1, 2, 3])
    side, gap = marker_geometry(140.0, 140.0)
    texts = [it for it in sheet.items if isinstance(it, Text) and it.text != "100 mm"]
    assert len(texts) > 2
    assert all(it.x + text_width(it.text, it.size) <= 140.0 + gap + side for it in texts)
    words = " ".join(it.text for it in texts).replace("|", " ").split()
    assert words == " ".join(parts).split()  # nothing cut


def test_a_word_wider_than_a_line_is_split_between_characters():
    word = "x" * 400
    lines = wrap_caption(["short", word], 50.0)
    assert lines[0] == "short" and "".join(lines[1:]) == word
    assert all(text_width(line, 2.8) <= 50.0 for line in lines)
