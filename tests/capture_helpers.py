"""Shared setup for the capture tests: a run holding the published Thys et al. patch, exported as a printout."""

from capture.synthetic import write_run
from patchgen.image_io import read_image
from printing.export import export_run


def exported_peer_patch(run, shared_assets, victim_path, size="300mm", dpi=100):
    """Write a run directory for the peer patch at `run` and export it; returns export_run's result."""
    patch = read_image(shared_assets / "peer_patches" / "thys2019_object_score.png", keep_alpha=True)
    write_run(run, patch, victim=str(victim_path))
    return export_run(run, size, dpi=dpi)
