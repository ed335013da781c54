"""patchgen: physical-world adversarial attacks, from optimizer to printer to camera."""

__version__ = "0.1.0"
