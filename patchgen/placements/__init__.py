"""Placements: where an artifact sits in each scene, as one matrix per instance from artifact pixels to image
pixels (EOT jitter included). Registered by name in patchgen.registry."""


def placement_for(config, artifact):
    """The placement the config puts in force (its own, else the goal's), sized for this artifact."""
    from patchgen import registry
    from patchgen.config import placement_kind

    cls = registry.get("placement", placement_kind(config))
    return cls(config, artifact.mask.shape[-1], float(artifact.mask.float().mean()))
