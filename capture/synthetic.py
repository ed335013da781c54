"""Synthetic photographs of a printed artifact: a real background photo with the printout warped onto a person.

Used by the tests and `benchmarks/capture.py` to measure what cannot be measured on real photos without a
printer and a camera: where the markers truly are (corner error), and whether the photo's verdict agrees with
the digital one. Each synthetic photo comes in two versions built from the same placement:
  - `photo`: the printout under random lighting, then blur, sensor noise and JPEG, as a camera would give it;
  - `digital`: the same printout at the same pose, perfectly rendered (no lighting, blur, noise or JPEG).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from patchgen import run_dir as run_files
from patchgen.config import RunConfig, from_dict, placement_kind, victim_family
from patchgen.data import read_yolo_labels
from patchgen.image_io import read_image
from printing.export import on_paper


@dataclass
class Sheet:
    """The printout as a raster (as `patchgen export` renders it): artifact, markers, paper around them."""

    image: np.ndarray  # (H,W,3) uint8 RGB
    mm_to_px: np.ndarray  # 3x3: artifact mm -> sheet pixel centres
    marker_corners_px: dict = field(default_factory=dict)  # id -> (4,2) outer corners, sheet pixel centres
    # (H,W) uint8: where there is print (stickers on an object: the pieces only); None: the whole raster is print
    alpha: np.ndarray | None = None


def mm_to_pixel_matrix(px_per_mm: float, origin_mm=(0.0, 0.0)) -> np.ndarray:
    """Artifact mm -> pixel-centre coordinates of a raster whose top-left pixel edge sits at `origin_mm`.

    The -0.5 is the pixel-centre convention OpenCV's warps and corner detectors use: the edge of pixel 0 is -0.5."""
    s = float(px_per_mm)
    ox, oy = origin_mm
    return np.array([[s, 0, -ox * s - 0.5], [0, s, -oy * s - 0.5], [0, 0, 1]], dtype=np.float64)


@dataclass
class SyntheticPhoto:
    photo: np.ndarray  # (H,W,3) uint8 RGB: with lighting, blur, noise, JPEG
    digital: np.ndarray  # same placement, none of those effects
    mm_to_photo: np.ndarray  # 3x3 true homography, artifact mm -> photo px
    marker_corners_px: dict  # id -> (4,2) true corners in the photo
    artifact_corners_px: np.ndarray  # (4,2) true artifact corners TL TR BR BL
    wearer_box: np.ndarray  # (4,) x1 y1 x2 y2 of the person carrying the printout, photo px
    params: dict


def frame_on_wearer(image: np.ndarray, box, size=(1920, 1080), fill=0.85, shift=(0.0, 0.0)):
    """Frame a `size` (w,h) photo on the wearer, as someone checking a print would: the wearer's box takes
    `fill` of the photo's height, its centre moved by `shift` (fractions of the photo). Outside the source
    image the background is mirrored. Returns (photo, the affine 2x3 source -> photo, the box in the photo)."""
    w, h = size
    box = np.asarray(box, dtype=np.float64).reshape(4)
    scale = fill * h / max(box[3] - box[1], 1.0)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    ih, iw = image.shape[:2]
    offsets = []
    for out_size, in_size, centre, move in ((w, iw, cx, shift[0]), (h, ih, cy, shift[1])):
        t = out_size * (0.5 + move) - scale * centre
        # Keep the view inside the source image where it fits (mirrored borders are a last resort).
        if in_size * scale >= out_size:
            t = float(np.clip(t, out_size - in_size * scale, 0.0))
        offsets.append(t)
    affine = np.array([[scale, 0, offsets[0]], [0, scale, offsets[1]]])
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    photo = cv2.warpAffine(image, affine, (w, h), flags=interpolation, borderMode=cv2.BORDER_REFLECT_101)
    moved = np.array([box[0] * scale + affine[0, 2], box[1] * scale + affine[1, 2],
                      box[2] * scale + affine[0, 2], box[3] * scale + affine[1, 2]])
    moved[[0, 2]] = moved[[0, 2]].clip(0, w)
    moved[[1, 3]] = moved[[1, 3]].clip(0, h)
    return photo, affine, moved


def random_pose(rng) -> dict:
    """Angles of the printout plane (degrees), its size relative to the torso rule, and where on the torso."""
    return {"yaw_deg": rng.uniform(-35, 35), "pitch_deg": rng.uniform(-25, 25), "roll_deg": rng.uniform(-20, 20),
            "size_factor": rng.uniform(0.8, 1.25), "anchor_x": rng.uniform(0.4, 0.6),
            "anchor_y": rng.uniform(0.3, 0.42)}


def pose_homography(sheet_mm_center, artifact_side_px: float, artifact_side_mm: float, center_px, pose) -> tuple:
    """A physical pose: the printout plane turned (yaw, pitch, roll) in front of a pinhole camera.

    Returns (3x3 artifact-mm -> photo px, the angles). The artifact's apparent size is about
    `artifact_side_px` at the plane's centre."""
    yaw, pitch, roll = (np.radians(float(pose[k])) for k in ("yaw_deg", "pitch_deg", "roll_deg"))
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    R = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]]) @ np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    R = R @ np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    distance_mm = 2000.0
    focal = artifact_side_px * distance_mm / artifact_side_mm
    K = np.array([[focal, 0, center_px[0]], [0, focal, center_px[1]], [0, 0, 1]])
    # Plane points (X,Y,0) in mm centred on the sheet centre, then the camera at `distance_mm`.
    to_centre = np.array([[1, 0, -sheet_mm_center[0]], [0, 1, -sheet_mm_center[1]], [0, 0, 1]], dtype=np.float64)
    H = K @ np.column_stack([R[:, 0], R[:, 1], [0, 0, distance_mm]]) @ to_centre
    return H / H[2, 2], {"yaw_deg": float(np.degrees(yaw)), "pitch_deg": float(np.degrees(pitch)),
                         "roll_deg": float(np.degrees(roll))}


def sheet_from_export(export_json) -> tuple[Sheet, dict]:
    """The printout exactly as `patchgen export` rendered it (its PNG: artifact, markers, crop marks, caption),
    with the pixel geometry from the export sidecar. Returns (sheet, marker layout)."""
    export_json = Path(export_json)
    sidecar = json.loads(export_json.read_text())
    png, layout = sidecar.get("png"), sidecar.get("marker_layout")
    if not png or not layout:
        raise ValueError(f"{export_json}: no PNG or marker layout in this export sidecar")
    image = read_image(export_json.parent / png["path"])
    mm_to_px = mm_to_pixel_matrix(float(png["px_per_mm"]), png["origin_mm"])
    corners = {int(m["id"]): _apply(mm_to_px, m["corners_mm"]) for m in layout["markers"]}
    return Sheet(image=image, mm_to_px=mm_to_px, marker_corners_px=corners), layout


def sheet_from_page(page_rgb: np.ndarray, dpi: float, origin_on_page_mm, layout: dict | None = None) -> Sheet:
    """A PDF page as printed (rendered at `dpi`, e.g. by pdftoppm) whose artifact's top-left corner sits at
    `origin_on_page_mm` on the page: a texture's sheet (its sidecar's pdf.pattern_on_page_mm), a sticker
    (box_on_page_mm). `layout`: the marker layout in the same frame, for the markers' true corners."""
    ox, oy = (float(v) for v in origin_on_page_mm)
    mm_to_px = mm_to_pixel_matrix(dpi / 25.4, (-ox, -oy))
    corners = {int(m["id"]): _apply(mm_to_px, m["corners_mm"]) for m in (layout or {}).get("markers", [])}
    return Sheet(image=np.ascontiguousarray(page_rgb[:, :, :3]), mm_to_px=mm_to_px, marker_corners_px=corners)


def bare_print(artifact_rgba: np.ndarray, size_mm, margin_mm: float = 0.0) -> Sheet:
    """The artifact printed alone at `size_mm` (w, h), as a peer's published patch is, or a texture's sheet of
    repeats (capture.run_artifact gives it as one image): no markers, no caption, transparent pixels left as
    paper, and `margin_mm` of paper around it."""
    px_per_mm = artifact_rgba.shape[1] / size_mm[0]
    pad = int(round(margin_mm * px_per_mm))
    image = np.pad(on_paper(artifact_rgba), ((pad, pad), (pad, pad), (0, 0)), constant_values=255)
    return Sheet(image=image, mm_to_px=mm_to_pixel_matrix(px_per_mm, (-pad / px_per_mm, -pad / px_per_mm)))


def crop_sheet(sheet: Sheet, rect_mm) -> Sheet:
    """The part of the sheet inside `rect_mm` (x0, y0, x1, y1): e.g. the artifact with its markers cut away."""
    x0, y0 = _apply(sheet.mm_to_px, [rect_mm[:2]])[0] + 0.5
    x1, y1 = _apply(sheet.mm_to_px, [rect_mm[2:]])[0] + 0.5
    a, b = int(np.floor(max(x0, 0))), int(np.floor(max(y0, 0)))
    c, d = int(np.ceil(min(x1, sheet.image.shape[1]))), int(np.ceil(min(y1, sheet.image.shape[0])))
    shift = np.array([[1, 0, -a], [0, 1, -b], [0, 0, 1]], dtype=np.float64)
    return Sheet(image=sheet.image[b:d, a:c].copy(), mm_to_px=shift @ sheet.mm_to_px, marker_corners_px={},
                 alpha=None if sheet.alpha is None else sheet.alpha[b:d, a:c].copy())


def scaled_sheet(sheet: Sheet, factor: float) -> Sheet:
    """Resample the sheet by `factor` with area averaging (a print-resolution PNG warped straight to photo
    scale would alias); the geometry follows exactly."""
    h, w = sheet.image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    sx, sy = size[0] / w, size[1] / h
    # Pixel centres: x' + 0.5 = sx * (x + 0.5).
    S = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], dtype=np.float64)
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return Sheet(image=cv2.resize(sheet.image, size, interpolation=interpolation), mm_to_px=S @ sheet.mm_to_px,
                 marker_corners_px={k: _apply(S, v) for k, v in sheet.marker_corners_px.items()},
                 alpha=None if sheet.alpha is None else cv2.resize(sheet.alpha, size, interpolation=interpolation))


def synthesize(
    background_rgb: np.ndarray,
    wearer_box,
    sheet: Sheet,
    artifact_size_mm,
    rng: np.random.Generator,
    artifact_scale: float = 0.2,
    pose: dict | None = None,
    effects: bool = True,
) -> SyntheticPhoto:
    """Warp the printout `sheet` onto the torso of `wearer_box` in `background_rgb` (same pixels, any size).

    The artifact's side is `artifact_scale` x the wearer box diagonal (x0.8-1.25), as the spine places patches.
    A texture's print is pasted the same way: its sheet of repeats as one printout (bare_print of the sheet
    capture.run_artifact gives), its longest side at `artifact_scale`; to keep millimetres alike across prints on
    one person, scale it by its size (benchmarks/capture.py: 0.2 of the diagonal for 300 mm).
    `pose` (see random_pose) fixes the geometry, e.g. to move the printout smoothly through a video;
    `effects=False` gives a photo as clean as the digital version."""
    background = np.ascontiguousarray(background_rgb)
    h, w = background.shape[:2]
    box = np.asarray(wearer_box, dtype=np.float64).reshape(4)
    bw, bh = box[2] - box[0], box[3] - box[1]
    art_w, art_h = (float(v) for v in artifact_size_mm)
    pose = dict(random_pose(rng), **(pose or {}))
    side_px = artifact_scale * float(np.hypot(bw, bh)) * pose["size_factor"]
    centre = (box[0] + bw * pose["anchor_x"], box[1] + bh * pose["anchor_y"])
    mm_to_photo, angles = pose_homography((art_w / 2, art_h / 2), side_px, max(art_w, art_h), centre, pose)

    # Resample the sheet to about 1.5x the photo's scale first, so the warp neither aliases nor smears.
    sheet_px_per_mm = float(np.hypot(*sheet.mm_to_px[:2, 0]))
    factor = 1.5 * (side_px / max(art_w, art_h)) / sheet_px_per_mm
    if factor < 0.9:
        sheet = scaled_sheet(sheet, factor)
    sheet_to_photo = mm_to_photo @ np.linalg.inv(sheet.mm_to_px)

    ones = np.full(sheet.image.shape[:2], 255, dtype=np.uint8) if sheet.alpha is None else sheet.alpha
    coverage = cv2.warpPerspective(ones, sheet_to_photo, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)[..., None]
    coverage /= 255.0
    warped = cv2.warpPerspective(sheet.image, sheet_to_photo, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
    base = background.astype(np.float32)
    digital = np.round(warped * coverage + base * (1 - coverage)).clip(0, 255).astype(np.uint8)

    # Lighting on the paper: exposure, a colour cast, and a shading gradient across the sheet.
    gain = rng.uniform(0.65, 1.15) if effects else 1.0
    tint = rng.uniform(0.92, 1.08, size=3) if effects else np.ones(3)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * (xs - centre[0]) + np.sin(angle) * (ys - centre[1])) / max(side_px, 1.0)
    shading = 1.0 + (rng.uniform(0.0, 0.12) if effects else 0.0) * np.clip(ramp, -1.5, 1.5)
    lit = warped * (gain * tint)[None, None, :].astype(np.float32) * shading[..., None]
    photo = lit * coverage + base * (1 - coverage)

    blur_sigma = rng.uniform(0.0, 1.4) if effects else 0.0
    if blur_sigma > 0.3:
        photo = cv2.GaussianBlur(photo, (0, 0), blur_sigma)
    noise_sigma = rng.uniform(0.0, 6.0) if effects else 0.0
    if noise_sigma > 0:
        photo = photo + rng.normal(0.0, noise_sigma, size=photo.shape).astype(np.float32)
    photo = np.round(photo).clip(0, 255).astype(np.uint8)
    quality = int(rng.integers(60, 96)) if effects else None
    if quality is not None:
        ok, encoded = cv2.imencode(".jpg", photo[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        photo = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1].copy()

    truth = {marker_id: _apply(sheet_to_photo, corners) for marker_id, corners in sheet.marker_corners_px.items()}
    art_corners = _apply(mm_to_photo, [[0, 0], [art_w, 0], [art_w, art_h], [0, art_h]])
    params = dict(angles, artifact_side_px=float(side_px), gain=float(gain), tint=np.round(tint, 4).tolist(),
                  blur_sigma=float(blur_sigma), noise_sigma=float(noise_sigma), jpeg_quality=quality)
    return SyntheticPhoto(photo=photo, digital=digital, mm_to_photo=mm_to_photo, marker_corners_px=truth,
                          artifact_corners_px=art_corners, wearer_box=box.copy(), params=params)


def _apply(H, points) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(pts, np.asarray(H, dtype=np.float64)).reshape(-1, 2)


@dataclass(frozen=True)
class UnloadedVictim:
    """What a run's sidecar records of its victim, for a run made without loading one: its family by name, its
    input size unknown (training records the size it used)."""

    family: str
    imgsz: None = None


def write_run(run_dir, artifact_rgba: np.ndarray, size_mm=(300.0, 300.0), victim: str | None = None,
              goal: str = "vanish", target_classes=("person",), goal_class: str = ""):
    """A run directory's artifact as `patchgen train` leaves it (its image, tensors and sidecar, with the keys
    training writes), for tests and benchmarks that need a run without training one; `size_mm` is recorded as
    an export records it (None: never exported). `printing.export.export_run` then adds the printout and its
    layout."""
    from patchgen.artifacts import Patch

    rgba = artifact_rgba if artifact_rgba.shape[2] == 4 else np.dstack(
        [artifact_rgba, np.full(artifact_rgba.shape[:2], 255, np.uint8)])
    config = from_dict(RunConfig, {"victim": victim or "", "goal": goal, "target_classes": list(target_classes),
                                   "goal_class": goal_class, "artifact": {"size": int(rgba.shape[0])}})
    sidecar = run_files.artifact_sidecar(config, UnloadedVictim(victim_family(config)), step=0, metrics={},
                                         data={}, placement=placement_kind(config))
    sidecar["physical_size_mm"] = None if size_mm is None else [float(size_mm[0]), float(size_mm[1])]
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    run_files.save_artifact(run_dir, Patch.from_rgba(rgba.astype(np.float32) / 255), sidecar)
    return Path(run_dir)


def write_video(path, background_rgb, wearer_box, sheet: Sheet, artifact_size_mm, frames: int = 12,
                fps: float = 10.0, seed: int = 0):
    """An MJPG AVI (the background's size) of the printout turning on the wearer (yaw sweeping -35..35 degrees),
    camera effects on. Returns the SyntheticPhoto frames (their truths), in order."""
    rng = np.random.default_rng(seed)
    base = random_pose(rng)
    h, w = background_rgb.shape[:2]
    made = []
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write MJPG video to {path}")
    try:
        for i in range(frames):
            pose = dict(base, yaw_deg=-35 + 70 * i / max(1, frames - 1))
            shot = synthesize(background_rgb, wearer_box, sheet, artifact_size_mm, rng, pose=pose)
            writer.write(np.ascontiguousarray(shot.photo[:, :, ::-1]))
            made.append(shot)
    finally:
        writer.release()
    return made


def tallest_person(images_dir, stem: str) -> tuple[np.ndarray, np.ndarray]:
    """(RGB image, its tallest labelled box) from an `images/` + `labels/` folder pair."""
    images_dir = Path(images_dir)
    image = read_image(images_dir / "images" / f"{stem}.jpg")
    h, w = image.shape[:2]
    boxes = read_yolo_labels(images_dir / "labels" / f"{stem}.txt", (0,), w, h)  # class 0: person
    return image, boxes[np.argmax(boxes[:, 3] - boxes[:, 1])]
