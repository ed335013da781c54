"""patchgen: physical-world adversarial attacks, from optimizer to printer to camera."""

import os

# Ultralytics would otherwise pip-install packages at run time (e.g. pi-heif when PIL cannot open a corrupt file):
# a surprise for users and a hang offline. Set before anything imports ultralytics; a user's own setting wins.
os.environ.setdefault("YOLO_AUTOINSTALL", "false")

__version__ = "0.1.0"
