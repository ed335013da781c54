"""Find the printed artifact by its own look, without markers: a worn texture, a smooth trained patch, a peer's
patch printed elsewhere. Coarse to fine:

 1. candidates: SIFT keypoints of the artifact (of one tile, for a texture sheet) matched in the photo, one
    homography per consensus (MAGSAC). A smooth artifact has few keypoints and blur takes most of those, so where
    none of them holds, a search: the whole print shrunk to a few dozen pixels, matched by normalised
    cross-correlation over the photo at a ladder of sizes and turns (cheap at that size, and a smooth print loses
    little by the shrinking).
 2. refinement: the print aligned to the photo by ECC (cv2.findTransformECCWithMask, a homography), small to full
    size, over the whole print at once (every tile of a texture together).
 3. verification: the correlation of the aligned print with the photo must reach MIN_CORRELATION, and on the
    print's own detail (capture/detail.py: where it is not plain paint) MIN_DETAIL_CORRELATION: a clean look-alike
    of the same outline (a plain stop sign beside an adversarial one) passes the first and fails the second.
 4. one place: a place that passes only the first is a look-alike; two places apart that both pass are two
    prints alike. Either way the photo does not say which object is the artifact: the Location found carries a
    `doubt`, and the photo is not judged (capture/score.py).

A texture's print is periodic: a homography shifted by whole tiles fits every tile but those at the sheet's edge.
Each candidate is tried at every whole-tile shift, and the shift whose sheet fits best, up to where the tiles end
and the paper or the shirt begins, is the one refined."""

from __future__ import annotations

import cv2
import numpy as np

from capture.detail import detail_correlation, detail_mask, detail_pieces
from capture.location import Location, overlapping, plausible_quad
from printing.export import on_paper
from printing.markers import apply_homography

# After alignment, synthetic photos of a print (lighting, blur, noise, JPEG) correlate at >= 0.94 (most at 0.98 and
# more); on 40 holdout photos without it, the print's template aligned as well as it goes reaches at most 0.78 (a
# smooth or a trained patch; a texture's sheet 0.13). A real print loses some correlation to the printer's colours
# and the cloth, so the bar sits between, nearer the second.
MIN_CORRELATION = 0.85
# On the print's detail alone (capture/detail.py): the artifact in synthetic photos reaches 0.64 (a faint pattern,
# 20 % over the plain paint, on a 90 px print under blur) to 0.99; a plain look-alike of its outline and mean colours
# scores about 0 (-0.03 to 0.01), even where its whole print correlates at 0.92-0.98.
MIN_DETAIL_CORRELATION = 0.5
# A homography from fewer keypoint matches is as likely chance as the artifact; here that is cheap, because the
# refinement and the correlation check decide, so a few suffice to seed it.
MIN_KEYPOINT_MATCHES = 6
RATIO_TEST = 0.8  # Lowe's: a match counts when clearly better than the runner-up
KEYPOINT_HYPOTHESES = 3  # consensus sets tried, each after removing the previous one's matches
# The keypoint template: at most this size (more keypoints on a large artifact only add time), enlarged to at
# least KEYPOINT_MIN_SIDE (SIFT finds few keypoints on a 100 px image).
KEYPOINT_MAX_SIDE, KEYPOINT_MIN_SIDE = 640, 320
# The search: the print's longest side shrunk to SEARCH_SIDE px (more for many tiles: each keeps a dozen pixels),
# tried for prints from SEARCH_MIN_FRACTION of the photo's longer side to its shorter side, a factor
# SEARCH_STEP apart, turned by SEARCH_TURNS degrees; the SEARCH_PEAKS best places (PEAKS_PER_MAP per size and turn)
# are aligned at the smallest size, and the SEARCH_REFINED that align best there are refined fully, best first,
# until one correlates at GOOD_ENOUGH. (A print turned 35 degrees away ranks about 20th by cross-correlation.)
SEARCH_SIDE, SEARCH_PX_PER_TILE = 32, 12
SEARCH_MIN_FRACTION, SEARCH_STEP = 0.04, 1.2
SEARCH_TURNS = (-20, -10, 0, 10, 20)
SEARCH_PEAKS, PEAKS_PER_MAP, SEARCH_REFINED = 40, 3, 4
GOOD_ENOUGH = 0.95
# The refinement runs at these sides of the print (px); None: its size in the photo, capped at REFINE_MAX_SIDE.
REFINE_LADDER = (32, 64, None)
REFINE_MAX_SIDE = 512
ECC_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 60, 1e-5)
# The print's outer EDGE_PX are left out of the fit: blur mixes the paper or the background into the photo's edge
# of the print, and fitted, that edge pulls the corners inward (about 1 px on a smooth trained patch; 0.1 without).
EDGE_PX = 2
# Whole-tile shifts are compared at this side per tile (px) of the sheet, cheaply, before refining the best one.
SHIFT_PX_PER_TILE, SHIFT_MIN_SIDE = 24, 64


def _shift(x: float, y: float) -> np.ndarray:
    return np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])


def _resized(image: np.ndarray, copy: np.ndarray) -> np.ndarray:
    """3x3: pixel centres of `image` -> those of its resized `copy` (cv2.resize's convention)."""
    kx, ky = copy.shape[1] / image.shape[1], copy.shape[0] / image.shape[0]
    return np.array([[kx, 0.0, 0.5 * kx - 0.5], [0.0, ky, 0.5 * ky - 0.5], [0.0, 0.0, 1.0]])


class Appearance:
    """What the print looks like (the artifact on paper, its shape, its repeats) and how to find it in a photo."""

    def __init__(self, artifact):
        self.artifact = artifact
        self.print_rgb = on_paper(artifact.image_rgba)
        self.corners_mm = artifact.corners_mm()
        # One repeat of a texture, the whole artifact otherwise: its keypoints are unique in it.
        self.tile_mm = artifact.period_mm or artifact.size_mm
        self.repeats = [int(np.ceil(size / period - 1e-6)) for size, period in zip(artifact.size_mm, self.tile_mm)]
        h, w = self.print_rgb.shape[:2]
        tile = artifact.image_rgba[: max(1, round(h * self.tile_mm[1] / artifact.size_mm[1])),
                                   : max(1, round(w * self.tile_mm[0] / artifact.size_mm[0]))]
        side = max(tile.shape[:2])
        scale = KEYPOINT_MIN_SIDE / side if side < KEYPOINT_MIN_SIDE else min(1.0, KEYPOINT_MAX_SIDE / side)
        size = (max(1, round(tile.shape[1] * scale)), max(1, round(tile.shape[0] * scale)))
        image = cv2.resize(on_paper(tile), size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        mask = cv2.resize(tile[:, :, 3], size, interpolation=cv2.INTER_NEAREST)
        self.sift = cv2.SIFT_create()
        self.keypoints, self.descriptors = self.sift.detectAndCompute(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY),
                                                                      (mask > 127).astype(np.uint8) * 255)
        # keypoint template px -> mm on the tile (the sheet's top-left tile)
        self.keypoint_px_to_mm = np.linalg.inv(np.array([[size[0] / self.tile_mm[0], 0, -0.5],
                                                         [0, size[1] / self.tile_mm[1], -0.5], [0, 0, 1]]))
        self.matcher = cv2.BFMatcher(cv2.NORM_L2)
        self.search_side = max(SEARCH_SIDE, SEARCH_PX_PER_TILE * max(self.repeats))
        self.detail = detail_mask(artifact.image_rgba)  # None: too plain to have detail of its own
        self._templates, self._pieces = {}, {}

    # -- the print at a given size ----------------------------------------------------------------------------
    def template(self, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(print as float32 RGB with its longest side `side` px, its fit mask, 3x3 artifact mm -> its pixels)."""
        side = int(max(8, side))
        if side not in self._templates:
            w_mm, h_mm = self.artifact.size_mm
            s = side / max(w_mm, h_mm)
            size = (max(8, round(w_mm * s)), max(8, round(h_mm * s)))
            image = cv2.resize(self.print_rgb, size, interpolation=cv2.INTER_AREA).astype(np.float32)
            alpha = cv2.resize(self.artifact.image_rgba[:, :, 3], size, interpolation=cv2.INTER_AREA)
            # The shape less its outer EDGE_PX (the sheet's edge, and a round patch's rim)
            mask = cv2.erode((alpha > 127).astype(np.uint8) * 255, np.ones((2 * EDGE_PX + 1,) * 2, np.uint8),
                             borderType=cv2.BORDER_CONSTANT, borderValue=0)
            to_px = np.array([[size[0] / w_mm, 0, -0.5], [0, size[1] / h_mm, -0.5], [0, 0, 1]])
            self._templates[side] = (image, mask, to_px)
        return self._templates[side]

    def side_in_photo(self, mm_to_photo: np.ndarray) -> float:
        corners = apply_homography(mm_to_photo, self.corners_mm)
        return float(np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1).max())

    # -- refinement and verification -----------------------------------------------------------------------------
    def pulled_back(self, photo_rgb: np.ndarray, mm_to_photo: np.ndarray, side: int):
        """(the print at `side` px, its fit mask, the photo pulled back onto it through `mm_to_photo` as float32)."""
        image, mask, to_px = self.template(side)
        back = cv2.warpPerspective(photo_rgb, mm_to_photo @ np.linalg.inv(to_px), (image.shape[1], image.shape[0]),
                                   flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        return image, mask, back.astype(np.float32)

    def fit(self, photo_rgb: np.ndarray, mm_to_photo: np.ndarray, side: int) -> float:
        """Correlation of the print at `side` px with the photo pulled back through `mm_to_photo` (no refining)."""
        image, mask, back = self.pulled_back(photo_rgb, mm_to_photo, side)
        return float(cv2.computeECC(image, back, mask))

    def detail_fit(self, photo_rgb: np.ndarray, mm_to_photo: np.ndarray) -> float | None:
        """Correlation of the print's detail with the photo at the print's size there (as the refinement's last
        step; capped at REFINE_MAX_SIDE); None where the print has no detail of its own."""
        if self.detail is None:
            return None
        side = round(min(self.side_in_photo(mm_to_photo), REFINE_MAX_SIDE))
        image, mask, back = self.pulled_back(photo_rgb, mm_to_photo, side)
        if side not in self._pieces:
            self._pieces[side] = detail_pieces(self.detail, mask)
        return detail_correlation(image, back, *self._pieces[side])

    def refine(self, photo_rgb: np.ndarray, mm_to_photo: np.ndarray, ladder=REFINE_LADDER):
        """(refined 3x3 artifact mm -> photo px, correlation), or None where ECC does not converge or the result
        is no view of a flat print. Each step works on a crop around the print, shrunk to the template's scale."""
        H, correlation = np.asarray(mm_to_photo, dtype=np.float64), None
        for step in ladder:
            in_photo = self.side_in_photo(H)
            side = min(in_photo, REFINE_MAX_SIDE) if step is None else min(step, in_photo)
            image, mask, to_px = self.template(round(side))
            corners = apply_homography(H, self.corners_mm)
            margin = 0.15 * in_photo + 8
            x0, y0 = np.maximum(np.floor(corners.min(axis=0) - margin), 0).astype(int)
            x1, y1 = np.ceil(corners.max(axis=0) + margin).astype(int)
            x1, y1 = min(x1, photo_rgb.shape[1]), min(y1, photo_rgb.shape[0])
            if x1 - x0 < 8 or y1 - y0 < 8:
                return None
            crop = full = photo_rgb[y0:y1, x0:x1]
            k = side / in_photo
            if k < 1:
                crop = cv2.resize(full, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
            to_crop = _resized(full, crop) @ _shift(-x0, -y0)
            warp = to_crop @ H @ np.linalg.inv(to_px)
            try:
                correlation, warp = cv2.findTransformECCWithMask(
                    image, crop.astype(np.float32), mask, np.full(crop.shape[:2], 255, np.uint8),
                    (warp / warp[2, 2]).astype(np.float32), cv2.MOTION_HOMOGRAPHY, ECC_CRITERIA, 3)
            except cv2.error:  # did not converge: nothing like the print there
                return None
            H = np.linalg.inv(to_crop) @ warp.astype(np.float64) @ to_px
            H = H / H[2, 2]
            if not plausible_quad(apply_homography(H, self.corners_mm), photo_rgb.shape):
                return None
        return H, float(correlation)

    def best_shift(self, photo_rgb: np.ndarray, mm_to_photo: np.ndarray) -> np.ndarray | None:
        """Of `mm_to_photo` moved by whole tiles, the one whose whole sheet fits the photo best (itself for a
        patch); None where no shift is a view of a flat print."""
        cols, rows = self.repeats
        shifted = [mm_to_photo @ _shift(i * self.tile_mm[0], j * self.tile_mm[1])
                   for j in range(1 - rows, rows) for i in range(1 - cols, cols)]
        shifted = [H for H in shifted if plausible_quad(apply_homography(H, self.corners_mm), photo_rgb.shape)]
        if len(shifted) <= 1:
            return shifted[0] if shifted else None
        side = max(SHIFT_MIN_SIDE, SHIFT_PX_PER_TILE * max(self.repeats))
        return max(shifted, key=lambda H: self.fit(photo_rgb, H, side))

    # -- candidates ---------------------------------------------------------------------------------------------
    def keypoint_candidates(self, photo_rgb: np.ndarray, max_side: int | None = None) -> list:
        """[(3x3 tile mm -> photo px, matches)] from SIFT, best consensus first."""
        if self.descriptors is None or len(self.keypoints) < MIN_KEYPOINT_MATCHES:
            return []
        gray = cv2.cvtColor(photo_rgb, cv2.COLOR_RGB2GRAY)
        small = gray
        if max_side and max(gray.shape) > max_side:
            k = max_side / max(gray.shape)
            small = cv2.resize(gray, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        keypoints, descriptors = self.sift.detectAndCompute(small, None)
        if descriptors is None or len(keypoints) < MIN_KEYPOINT_MATCHES:
            return []
        # Photo -> template: each keypoint of the photo picks its tile keypoint, so the copies of a tile in a
        # sheet do not fail each other's ratio test.
        pairs = self.matcher.knnMatch(descriptors, self.descriptors, k=2)
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO_TEST * p[1].distance]
        if len(good) < MIN_KEYPOINT_MATCHES:
            return []
        src = apply_homography(self.keypoint_px_to_mm, np.float64([self.keypoints[m.trainIdx].pt for m in good]))
        dst = apply_homography(np.linalg.inv(_resized(gray, small)),
                               np.float64([keypoints[m.queryIdx].pt for m in good]))
        threshold = max(3.0, 0.004 * max(photo_rgb.shape[:2]))
        found = []
        for _ in range(KEYPOINT_HYPOTHESES):
            if len(src) < MIN_KEYPOINT_MATCHES:
                break
            H, inliers = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, threshold, maxIters=4000, confidence=0.999)
            if H is None or inliers is None or int(inliers.sum()) < MIN_KEYPOINT_MATCHES:
                break
            keep = inliers.reshape(-1).astype(bool)
            found.append((H / H[2, 2], int(keep.sum())))
            src, dst = src[~keep], dst[~keep]
        return found

    def search_candidates(self, photo_rgb: np.ndarray) -> list:
        """[(3x3 artifact mm -> photo px, normalised cross-correlation)] from the shrunk print, best first."""
        image, _, to_px = self.template(self.search_side)
        th, tw = image.shape[:2]
        h, w = photo_rgb.shape[:2]
        peaks = []
        side = max(float(self.search_side), SEARCH_MIN_FRACTION * max(h, w))
        while side <= min(h, w):
            k = self.search_side / side
            small = cv2.resize(photo_rgb, None, fx=k, fy=k, interpolation=cv2.INTER_AREA).astype(np.float32)
            to_small = _resized(photo_rgb, small)
            sh, sw = small.shape[:2]
            for turn in SEARCH_TURNS:
                a = np.radians(turn)
                c, s = np.cos(a), np.sin(a)
                out_w, out_h = int(np.ceil(abs(sw * c) + abs(sh * s))), int(np.ceil(abs(sw * s) + abs(sh * c)))
                if out_w < tw or out_h < th:
                    continue
                # The photo turned (canvas grown to hold it) rather than the print: no mask needed to match.
                turned = _shift(out_w / 2, out_h / 2) @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ \
                    _shift(-sw / 2, -sh / 2)
                view = cv2.warpAffine(small, turned[:2], (out_w, out_h), flags=cv2.INTER_LINEAR)
                scores = cv2.matchTemplate(view, image, cv2.TM_CCOEFF_NORMED)
                for _ in range(PEAKS_PER_MAP):
                    _, value, _, (x, y) = cv2.minMaxLoc(scores)
                    H = np.linalg.inv(to_small) @ np.linalg.inv(turned) @ _shift(x, y) @ to_px
                    peaks.append((H / H[2, 2], float(value)))
                    cv2.rectangle(scores, (x - tw // 2, y - th // 2), (x + tw // 2, y + th // 2), -1.0, -1)
            side *= SEARCH_STEP
        peaks.sort(key=lambda peak: -peak[1])
        return peaks[:SEARCH_PEAKS]

    # -- all together -------------------------------------------------------------------------------------------
    def locate(self, photo_rgb: np.ndarray, max_side: int | None = None, hint: Location | None = None
               ) -> Location | None:
        """The print in the photo, or None; a Location with a `doubt` where what was found may be another object
        (see the module docstring). `max_side`: keypoints are looked for on a copy shrunk to this (the refinement
        is always at full size); `hint`: where it was in the previous frame, tried first (not a doubtful one)."""
        if hint is not None and hint.doubt is None:
            refined = self.refine(photo_rgb, hint.mm_to_photo, ladder=(None,))
            if refined is not None and refined[1] >= MIN_CORRELATION:
                found = self._location(photo_rgb, *refined, "previous frame")
                if not self._look_alike(found):
                    return found
        places, look_alikes = [], []
        for tile_to_photo, matches in self.keypoint_candidates(photo_rgb, max_side):
            start = self.best_shift(photo_rgb, tile_to_photo)
            refined = self.refine(photo_rgb, start) if start is not None else None
            if refined is not None and refined[1] >= MIN_CORRELATION:
                self._sort(self._location(photo_rgb, *refined, "keypoints", matches), places, look_alikes)
        if not places:
            # Every place the search found, aligned at the smallest size only (cheap); then the best of those fully,
            # best first, until one fits at GOOD_ENOUGH; after that, only places apart from it that fit as well as
            # a print does even at the smallest size (a second print alike).
            screened = []
            for start, _ in self.search_candidates(photo_rgb):
                start = self.best_shift(photo_rgb, start)
                coarse = self.refine(photo_rgb, start, ladder=REFINE_LADDER[:1]) if start is not None else None
                if coarse is not None:
                    screened.append(coarse)
            for start, coarse in sorted(screened, key=lambda fit: -fit[1])[:SEARCH_REFINED]:
                quad = apply_homography(start, self.corners_mm)
                settled = [p for p in places if p.correlation >= GOOD_ENOUGH]
                if settled and (coarse < MIN_CORRELATION or any(overlapping(quad, p.corners_px) for p in settled)):
                    continue
                refined = self.refine(photo_rgb, start, ladder=REFINE_LADDER[1:])
                if refined is not None and refined[1] >= MIN_CORRELATION:
                    self._sort(self._location(photo_rgb, *refined, "search"), places, look_alikes)
        if len(places) > 1:
            best, rival = places[:2]
            best.doubt = (f"two places look like the artifact (correlation {best.correlation:.2f} at "
                          f"{_where(best)}, {rival.correlation:.2f} at {_where(rival)}): the photo does not say which "
                          f"is the print, so it is not judged")
            return best
        if places:
            return places[0]
        if look_alikes:
            found = look_alikes[0]
            found.doubt = (f"what was found at {_where(found)} matches the artifact's outline but not its detail "
                           f"(correlation {found.correlation:.2f}, on its detail {found.detail_correlation:.2f}): "
                           f"a look-alike (a clean copy of its shape?), not the artifact, so the photo is not judged")
            return found
        return None

    def _look_alike(self, found: Location) -> bool:
        return found.detail_correlation is not None and found.detail_correlation < MIN_DETAIL_CORRELATION

    def _sort(self, found: Location, places: list, look_alikes: list):
        """File a fit that passed MIN_CORRELATION: a look-alike, a better fit of a place already found, or a new
        place; each list best first."""
        if self._look_alike(found):
            look_alikes.append(found)
            look_alikes.sort(key=lambda p: -p.correlation)
            return
        same = [p for p in places if overlapping(p.corners_px, found.corners_px)]
        if same and same[0].correlation >= found.correlation:
            return
        places[:] = [p for p in places if not overlapping(p.corners_px, found.corners_px)] + [found]
        places.sort(key=lambda p: -p.correlation)

    def _location(self, photo_rgb, mm_to_photo, correlation, seed, matches=0) -> Location:
        return Location("features", mm_to_photo, apply_homography(mm_to_photo, self.corners_mm), inliers=matches,
                        correlation=correlation, seed=seed, detail_correlation=self.detail_fit(photo_rgb, mm_to_photo))


def _where(location: Location) -> str:
    x, y = location.centre_px
    return f"({x:.0f}, {y:.0f}) px"
