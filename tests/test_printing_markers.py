"""ArUco markers: draw, detect (any orientation, sub-pixel), and the artifact-mm -> pixel homography."""

import cv2
import numpy as np
import pytest
from PIL import Image

from printing.markers import (ARUCO_DICT_NAME, apply_homography, detect_markers, draw_marker,
                              homography_from_markers, marker_layout)

PX_PER_MM = 4.0
OFFSET_PX = 160.0


def _page_with_markers():
    """A white 'page' at 4 px/mm with four 20 mm markers around a 100 x 60 mm artifact at (160, 160) px."""
    layout = marker_layout((100, 60), [(0, -30, -30, 20), (1, 110, -30, 20), (2, 110, 70, 20), (3, -30, 70, 20)])
    page = np.full((680, 840), 255, np.uint8)
    for m in layout["markers"]:
        x, y = (np.array(m["corners_mm"][0]) * PX_PER_MM + OFFSET_PX).astype(int)
        page[y:y + 80, x:x + 80] = draw_marker(m["id"], 80)
    page[160:400, 160:560] = 90  # the artifact
    return page, layout


def _mm_to_page_px(mm):
    # Pixel centres at integers: the continuous edge at OFFSET_PX is pixel coordinate OFFSET_PX - 0.5.
    return np.asarray(mm, float) * PX_PER_MM + OFFSET_PX - 0.5


def test_draw_marker_is_gray_uint8_with_black_border():
    m = draw_marker(7, 60)
    assert m.shape == (60, 60) and m.dtype == np.uint8
    assert set(np.unique(m)) <= {0, 255}
    assert (m[:10] == 0).all() and (m[:, :10] == 0).all() and (m[-10:] == 0).all() and (m[:, -10:] == 0).all()
    assert ARUCO_DICT_NAME == "DICT_4X4_50"


def test_detect_and_homography_survive_perspective_and_rotation():
    page, layout = _page_with_markers()
    # A perspective view, turned upside down, in colour.
    src = np.float32([[0, 0], [839, 0], [839, 679], [0, 679]])
    dst = np.float32([[850, 700], [60, 640], [110, 40], [800, 90]])
    M = cv2.getPerspectiveTransform(src, dst)
    photo = cv2.warpPerspective(page, M, (900, 750), flags=cv2.INTER_LINEAR, borderValue=200)
    photo = np.dstack([photo, photo, photo])
    found = detect_markers(photo)
    assert sorted(found) == [0, 1, 2, 3]
    assert all(q.shape == (4, 2) and q.dtype == np.float32 for q in found.values())
    H = homography_from_markers(found, layout)
    artifact_corners_mm = [[0, 0], [100, 0], [100, 60], [0, 60]]
    expected = cv2.perspectiveTransform(_mm_to_page_px(artifact_corners_mm).reshape(-1, 1, 2), M).reshape(-1, 2)
    assert np.abs(apply_homography(H, artifact_corners_mm) - expected).max() < 1.0


def test_corners_are_subpixel_accurate_on_an_unrotated_page():
    page, layout = _page_with_markers()
    found = detect_markers(page)
    for m in layout["markers"]:
        assert np.abs(found[m["id"]] - _mm_to_page_px(m["corners_mm"])).max() < 0.3


def test_too_few_markers_gives_none_and_no_markers_gives_empty(inria_dev):
    page, layout = _page_with_markers()
    page[:, 420:] = 255  # erase the two right-hand markers
    found = detect_markers(page)
    assert sorted(found) == [0, 3]
    assert homography_from_markers(found, layout, min_markers=3) is None
    assert homography_from_markers(found, layout, min_markers=2) is not None
    photo = np.asarray(Image.open(sorted((inria_dev / "images").iterdir())[0]).convert("RGB"))
    assert detect_markers(photo) == {}
    assert homography_from_markers({}, layout) is None


def test_detect_rejects_non_uint8():
    with pytest.raises(ValueError):
        detect_markers(np.zeros((50, 50), np.float32))
