"""A sticker set carries two ArUco markers per piece (top-left and bottom-right), and `patchgen score` judges a
photo of the object with the set: every piece located (its markers, else its own image), all of them painted out
in the counterfactual, and the record says how many were found.

The photos: a real INRIA image as the object's surface, the export's marked PNGs (each sticker cut with its
markers) stuck at the centres the export gives, warped into a real scene with camera effects."""

import json

import cv2
import numpy as np
import pytest

from test_printing_export import _pdftoppm
from test_printing_stickers import sticker_run

from capture.counterfactual import counterfactual
from capture.media import write_image
from capture.run_artifact import load_run
from capture.sticker_set import locate_set
from capture.synthetic import Sheet, frame_on_wearer, mm_to_pixel_matrix, synthesize, tallest_person
from patchgen import run_dir as run_files
from patchgen.cli import main
from patchgen.image_io import read_image
from printing.markers import apply_homography, detect_markers, homography_from_markers
from printing.sticker_export import export_stickers

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PIECES = [{"centre": [0.25, 0.27], "side": 0.1, "shape": "square"},
          {"centre": [0.75, 0.27], "side": 0.1, "shape": "square"},
          {"centre": [0.25, 0.73], "side": 0.1, "shape": "square"},
          {"centre": [0.75, 0.73], "side": 0.1, "shape": "square"}]
OBJECT_MM = (500.0, 400.0)
DPI = 100
POSE = {"yaw_deg": 15.0, "pitch_deg": -10.0, "roll_deg": 5.0, "size_factor": 1.0, "anchor_x": 0.5, "anchor_y": 0.5}


@pytest.fixture(scope="module")
def exported(tmp_path_factory, inria_dev):
    root = tmp_path_factory.mktemp("sticker_set")
    run = sticker_run(root / "run", sorted((inria_dev / "images").iterdir())[2:], PIECES)
    result = export_stickers(run, "50x40cm", dpi=DPI)
    return {"root": root, "run": run, "sidecar": json.loads(result.sidecar.read_text())}


def object_with_stickers(exported, surface_path, numbers, bare=()) -> Sheet:
    """The object (a real photo as its surface) with the stickers `numbers` stuck on it where their pieces go: cut
    with their markers (the marked PNGs), or for those in `bare` without (the piece's own PNG)."""
    k = DPI / 25.4
    size = (round(OBJECT_MM[0] * k), round(OBJECT_MM[1] * k))
    board = cv2.resize(read_image(surface_path), size, interpolation=cv2.INTER_AREA)
    folder = exported["run"] / run_files.EXPORT
    for piece in exported["sidecar"]["pieces"]:
        if piece["number"] not in numbers:
            continue
        top_left = np.array(piece["centre_mm"]) - piece["side_mm"] / 2
        if piece["number"] in bare:
            png = read_image(folder / piece["png"]["path"])
            scale = piece["side_mm"] / png.shape[1] * k  # board px per PNG px
        else:
            png = read_image(folder / piece["png"]["marked"]["path"])
            top_left, scale = top_left + piece["png"]["marked"]["origin_mm"], 1.0
        # PNG pixel centre i lies at (i + 0.5) / scale board px past the top-left edge, on the board's own grid.
        move = top_left * k + 0.5 * scale - 0.5
        cv2.warpAffine(png, np.float64([[scale, 0, move[0]], [0, scale, move[1]]]), size, dst=board,
                       flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)
    return Sheet(image=board, mm_to_px=mm_to_pixel_matrix(k))


def photo(exported, inria_dev, numbers, seed, bare=()):
    sheet = object_with_stickers(exported, inria_dev / "images" / "crop001501.jpg", numbers, bare)
    image, box = tallest_person(inria_dev, "crop001521")
    background, _, wearer = frame_on_wearer(image, box, (1280, 960), fill=0.9)
    shot = synthesize(background, wearer, sheet, OBJECT_MM, np.random.default_rng(seed), artifact_scale=1.0,
                      pose=POSE)
    truth = {}
    for piece in exported["sidecar"]["pieces"]:
        (x, y), s = np.array(piece["centre_mm"]) - piece["side_mm"] / 2, piece["side_mm"]
        truth[piece["number"]] = apply_homography(shot.mm_to_photo, [[x, y], [x + s, y], [x + s, y + s], [x, y + s]])
    return shot.photo, truth


def score(exported, rgb, yolov5n_path, name, capsys) -> dict:
    path = exported["root"] / f"{name}.png"
    write_image(path, rgb)
    out = exported["root"] / name
    code = main(["score", str(path), "--run", str(exported["run"]), "--victim", str(yolov5n_path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    (record,) = json.loads((out / "summary.json").read_text())["photos"]
    return record, err


def test_every_piece_prints_with_two_markers_that_locate_it(exported, tmp_path):
    sidecar = exported["sidecar"]
    ids = [m["id"] for piece in sidecar["pieces"] for m in piece["marker_layout"]["markers"]]
    assert ids == [46, 47, 48, 49, 39, 38, 37, 36]  # apart from a patch export's 0-39 from 0 up, and the chart's
    (page_1, *_rest) = _pdftoppm(exported["run"] / run_files.EXPORT / sidecar["pdf"]["path"], 150, tmp_path / "p")
    found = detect_markers(page_1)
    on_page = [p for p in sidecar["pieces"] if p["page"] == 1]
    assert on_page
    for piece in on_page:
        layout = piece["marker_layout"]
        assert layout["artifact_size_mm"] == pytest.approx([piece["side_mm"]] * 2, abs=1e-4)
        # The two markers (TL, BR) alone fit the piece to a fraction of a millimetre across its whole square.
        H = homography_from_markers(found, layout, min_markers=2)
        x, y, w, h = piece["box_on_page_mm"]
        corners_mm = np.array([[0, 0], [w, 0], [w, h], [0, h]])
        truth = (corners_mm + [x, y]) * 150 / 25.4 - 0.5
        assert np.abs(apply_homography(H, corners_mm) - truth).max() < 0.5 * 150 / 25.4


def test_a_photo_with_two_of_four_stickers_says_two_found(exported, inria_dev, yolov5n_path, capsys):
    rgb, truth = photo(exported, inria_dev, numbers=(1, 4), seed=1)
    record, err = score(exported, rgb, yolov5n_path, "two", capsys)
    location = record["location"]
    assert location["found"] == "2 of 4 stickers found" and location["stickers_found"] == 2
    assert "2 of 4 stickers found" in record["notes"] and "2 of 4 stickers found" in err
    assert "2 of 4 stickers found: markers" in (exported["root"] / "two" / "report.html").read_text()
    assert [p["found"] for p in location["pieces"]] == [True, False, False, True]
    for number in (1, 4):
        piece = location["pieces"][number - 1]
        assert piece["method"] == "markers" and len(piece["markers_found"]) == 2
        error = np.abs(np.array(piece["corners_px"]) - truth[number]).max()
        assert error < 2.0, (number, error)
    # The set's place is the box round the pieces found.
    found = np.concatenate([truth[1], truth[4]])
    assert np.abs(np.array(location["corners_px"])[[0, 2]] - [found.min(0), found.max(0)]).max() < 2.0


def test_a_photo_of_all_four_finds_four_and_paints_them_all_out(exported, inria_dev, yolov5n_path, capsys):
    rgb, truth = photo(exported, inria_dev, numbers=(1, 2, 3, 4), seed=2)
    record, _ = score(exported, rgb, yolov5n_path, "four", capsys)
    location = record["location"]
    assert location["found"] == "4 of 4 stickers found" and location["method"] == "markers"
    for number in range(1, 5):
        error = np.abs(np.array(location["pieces"][number - 1]["corners_px"]) - truth[number]).max()
        assert error < 2.0, (number, error)
    # The counterfactual: every piece found painted grey, nothing else touched.
    artifact = load_run(exported["run"])
    where = locate_set(rgb, artifact, use_features=False)
    painted = counterfactual(rgb, where, artifact)
    for number in range(1, 5):
        x, y = np.round(truth[number].mean(axis=0)).astype(int)
        assert (painted[y - 3:y + 4, x - 3:x + 4] == 127).all()
    changed = np.nonzero((painted != rgb).any(axis=2))
    quads = [cv2.pointPolygonTest(truth[n].astype(np.float32), (float(x), float(y)), True)
             for n in range(1, 5) for x, y in [(changed[1][0], changed[0][0])]]
    assert max(quads) > -3  # the first changed pixel lies on a piece (within the mask's dilation)


def test_a_sticker_cut_without_its_markers_is_found_by_its_image(exported, inria_dev, yolov5n_path, capsys):
    rgb, truth = photo(exported, inria_dev, numbers=(1, 2, 4), seed=3, bare=(2,))
    record, _ = score(exported, rgb, yolov5n_path, "bare", capsys)
    location = record["location"]
    assert location["found"] == "3 of 4 stickers found" and location["method"] == "markers+features"
    piece = location["pieces"][1]
    assert piece["method"] == "features" and piece["markers_found"] == []
    error = np.abs(np.array(piece["corners_px"]) - truth[2]).max()
    assert error < 3.0, error
