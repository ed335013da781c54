"""Artifacts: what is trained, an `nn.Module` whose forward returns the printable image in [0,1] with a `mask`
buffer for its shape. Each kind is registered by name (patchgen.registry) and saved and loaded by that kind."""

from patchgen.artifacts.load import artifact_from_image, load_artifact
from patchgen.artifacts.patch import Patch

__all__ = ["Patch", "artifact_from_image", "load_artifact"]
