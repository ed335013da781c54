"""Any artifact back from disk: a run directory by the kind its sidecar names, a .safetensors file, or any image
(a peer's published patch, a PNG from another tool: its alpha, if any, is the shape)."""

from pathlib import Path

import numpy as np

from patchgen import registry, run_dir
from patchgen.errors import UserError, require_file
from patchgen.image_io import read_image
from patchgen.tensor_file import read_tensors


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
    """A patch from an image file: RGB its colours, alpha (opaque where there is none) its shape."""
    rgba = read_image(path, keep_alpha=True).astype(np.float32) / 255
    side = min(rgba.shape[:2])
    rgba = rgba[:side, :side]  # published patches are square; crop any odd extra row
    return registry.get("artifact", "patch").from_rgba(rgba)
