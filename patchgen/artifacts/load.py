"""Any artifact back from disk: a run directory by the kind its sidecar names, a .safetensors file, or any image
(a peer's published patch, a PNG from another tool: its alpha, if any, is the shape)."""

import dataclasses
from pathlib import Path

from patchgen import registry, run_dir
from patchgen.config import ArtifactConfig
from patchgen.errors import UserError, require_file
from patchgen.image_io import read_image
from patchgen.mask_file import check_visible, fit_square
from patchgen.tensor_file import read_tensors

MIN_SIDE = next(f for f in dataclasses.fields(ArtifactConfig) if f.name == "size").metadata["range"].low


def load_artifact(path):
    path = Path(path)
    if path.is_dir():
        kind = run_dir.read_sidecar(path, required=False).get("artifact", "patch")
        if kind not in registry.PLUGINS["artifact"]:
            raise UserError(f"{path / run_dir.SIDECAR}: artifact kind {kind!r} is not one of "
                            f"{', '.join(registry.PLUGINS['artifact'])}")
        tensors = path / run_dir.ARTIFACT_TENSORS
        if tensors.is_file():
            return registry.get("artifact", kind).load_tensors(tensors)
        path = path / run_dir.ARTIFACT_PNG
    require_file(path, "artifact")
    if path.suffix == ".safetensors":  # the kinds after patch name themselves in the file
        kind = read_tensors(path, "artifact")[1].get("kind", "patch")
        if kind not in registry.PLUGINS["artifact"]:
            raise UserError(f"{path}: artifact kind {kind!r} is not one of {', '.join(registry.PLUGINS['artifact'])}")
        return registry.get("artifact", kind).load_tensors(path)
    return artifact_from_image(path)


def artifact_from_image(path):
    """A patch from an image file: RGB its colours, alpha (opaque where there is none) its shape. A non-square
    image is kept whole, centred in a square with transparent margins (a patch is square; a 4:3 photo cropped to
    its top-left square would lose a quarter of itself without a word)."""
    rgba = read_image(path, keep_alpha=True)
    height, width = rgba.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise UserError(f"{path}: {width} x {height} px is too small for an artifact: it must be at least {MIN_SIDE} "
                        f"px per side, the smallest artifact.size a run trains (EOT's warps and blur need pixels "
                        f"to work on)")
    square = fit_square(rgba, max(height, width))  # scale 1: margins added, no pixel resampled
    check_visible(square[..., 3], str(path), "as an artifact", "its alpha must be the shape: opaque (255) inside")
    return registry.get("artifact", "patch").from_rgba(square)
