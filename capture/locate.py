"""Find the printed artifact in a photo: by its ArUco markers when the printout carries them, otherwise by its own
image (capture/appearance.py: a worn texture, a smooth patch, a patch printed elsewhere, a peer's patch); where only
some markers are in view, their homography is refined on the artifact's image. Every path ends in a Location
(capture/location.py). `patchgen score`, videos and `patchgen live` all locate through `locate_artifact`.

Which print: a run may hold several exports (one per size and paper), each with its own layout. Each export has
its own marker ids (printing/run_exports.py), so the ids seen say which. Exports made before that all use ids 0-3;
then every layout that has the ids seen is fitted, and the one whose markers fit best (RMS reprojection error over
all matched corners) is taken: marker size and spacing relative to the artifact differ with print size, so a
wrong layout does not fit. Where two layouts fit about equally well but put the artifact in different places,
the photo does not say which print it shows: one UserError asks for --export rather than a guess. Markers seen that
belong to none of the prints chosen (another export of the run while --export names one, or another run's print)
are left out, and the artifact is looked for by its image; `other_prints_note` says so, for the photo's notes."""

from __future__ import annotations

import numpy as np

from capture.appearance import MIN_CORRELATION, Appearance
from capture.location import Location, plausible_quad
from patchgen import run_dir as run_files
from patchgen.errors import UserError
from printing.markers import apply_homography, correspondences, detect_markers, homography_from_markers
from printing.run_exports import ALL_EXPORT_IDS, read_exports

# Two layouts fit "about equally well" when the worse RMS error is within 2x + 0.5 px of the better. The right
# layout fits to under a pixel even under blur and JPEG; a wrong one (other marker size and spacing) misses by
# several pixels once two markers are seen.
TIE_RATIO, TIE_PX = 2.0, 0.5
# Two fits that put every artifact corner within this of each other agree: either will do.
SAME_PLACE_PX = 2.0


def fit_export(detected: dict, export, artifact, shape) -> Location | None:
    """The artifact located through one export's layout (None: under 2 of its markers seen, or no real quad)."""
    H = homography_from_markers(detected, export.layout, min_markers=2)
    if H is None:
        return None
    mm, px, used = correspondences(detected, export.layout)
    # Over every matched corner, not RANSAC's inliers only: a wrong layout must not hide its misfit as outliers.
    error = float(np.sqrt(((apply_homography(H, mm) - px) ** 2).sum(axis=1).mean()))
    H = H @ np.linalg.inv(artifact.export_to_artifact(export))
    H = H / H[2, 2]
    corners = apply_homography(H, artifact.corners_mm())
    if not plausible_quad(corners, shape):
        return None
    return Location("markers", H, corners, markers={k: detected[k] for k in used}, export=export,
                    reprojection_px=error)


def locate_by_markers(photo_rgb: np.ndarray, artifact, detected: dict | None = None) -> Location | None:
    """Through the export whose layout fits the markers seen best (see the module docstring)."""
    if not artifact.exports:
        return None
    detected = detect_markers(photo_rgb) if detected is None else detected
    fits = [fit_export(detected, export, artifact, photo_rgb.shape) for export in artifact.exports]
    fits = sorted((f for f in fits if f is not None), key=lambda f: f.reprojection_px)
    if not fits:
        return None
    best = fits[0]
    for other in fits[1:]:
        tie = other.reprojection_px <= TIE_RATIO * best.reprojection_px + TIE_PX
        if tie and np.abs(other.corners_px - best.corners_px).max() > SAME_PLACE_PX:
            raise UserError(f"the markers in view fit exports {best.export.name} and {other.export.name} about "
                            f"equally well ({best.reprojection_px:.1f} and {other.reprojection_px:.1f} px) but put "
                            f"the artifact in different places: say which print it shows with --export NAME")
    return best


def other_prints_ids(detected: dict, artifact) -> tuple:
    """The export marker ids seen where none of them is a chosen print's (their layouts cannot place this
    artifact); () otherwise, or where the artifact has no export to compare with."""
    seen = sorted(i for i in detected if i in ALL_EXPORT_IDS)
    chosen = {i for export in artifact.exports for i in export.marker_ids}
    return tuple(seen) if artifact.exports and seen and not chosen & set(seen) else ()


def other_prints_note(ids: tuple, artifact, located: bool) -> str | None:
    """The photo's note for `other_prints_ids` (None where there are none); `located`: whether the artifact was
    found anyway, by its image."""
    if not ids:
        return None
    every = read_exports(artifact.run_dir / run_files.EXPORT) if artifact.run_dir is not None else []
    # A sticker page has a record per piece, all of one name: each name once.
    owners = list(dict.fromkeys(e.name for e in every if set(e.marker_ids) & set(ids) and e not in artifact.exports))
    names = ", ".join(dict.fromkeys(e.name for e in artifact.exports))
    whose = f"export {' or '.join(owners)}" if owners else "another print"
    picked = f"--export {names} names another print" if len(every) > len(artifact.exports) else \
        f"this run's exports ({names}) have other ids"
    then = "located by its image instead" if located else "not found by its image either"
    advice = f"leave --export out or name {owners[0]}" if owners else "is it this run's print?"
    return (f"markers of {whose} (ids {', '.join(str(i) for i in ids)}) seen, but {picked}: they were left out "
            f"and the artifact {then} ({advice})")


def refine_on_image(photo_rgb: np.ndarray, by_markers: Location, appearance: Appearance) -> Location | None:
    """The markers' homography refined on the artifact's own image. With only some markers in view (two at one
    edge, say) their corners constrain the far side of the artifact poorly; the whole print fitted fixes that."""
    refined = appearance.refine(photo_rgb, by_markers.mm_to_photo)
    if refined is None or refined[1] < MIN_CORRELATION:
        return None
    H, correlation = refined
    return Location("markers+features", H, apply_homography(H, appearance.corners_mm),
                    markers=by_markers.markers, export=by_markers.export, reprojection_px=by_markers.reprojection_px,
                    correlation=correlation, seed="markers")


def locate_artifact(photo_rgb: np.ndarray, artifact, appearance: Appearance | None = None,
                    use_features: bool = True, feature_max_side: int | None = None,
                    hint: Location | None = None, detected: dict | None = None) -> Location | None:
    """Markers first (exact, cheap). Where some are missing, their fit refined on the artifact's image; where none
    are, the artifact found by its image alone (`use_features=False`: markers only). `feature_max_side` and `hint`
    (the previous frame's location) only make the image path faster: Appearance.locate. `detected`: the photo's
    markers where the caller has them (a sticker set's pieces share one detection)."""
    if detected is None:
        detected = detect_markers(photo_rgb) if artifact.exports else {}
    by_markers = locate_by_markers(photo_rgb, artifact, detected)
    all_markers = by_markers is not None and len(by_markers.markers) >= len(by_markers.export.layout["markers"])
    if all_markers or not use_features:
        return by_markers
    appearance = appearance or Appearance(artifact)
    if by_markers is not None:
        refined = refine_on_image(photo_rgb, by_markers, appearance)
        if refined is not None:
            return refined
    found = appearance.locate(photo_rgb, max_side=feature_max_side, hint=hint)
    # where the markers' fit did not hold on the image (two markers at one edge of a 72 cm texture sheet place its
    # far side tens of pixels off, too far for the refinement to pull in), the image decides where it finds the
    # print without doubt, the markers' fit where it does not
    if by_markers is not None and (found is None or found.doubt is not None):
        return by_markers
    if found is not None:
        found.other_markers = other_prints_ids(detected, artifact)
    return found
