"""When a detection counts: one home for the detection threshold and the match IoU, read by the goals' success,
evaluation (AP, recall), capture's verdict and every `--conf` default. Torch-free, so the CLI can show them."""

FOUND_CONF = 0.25  # the confidence a detection needs to count as found (recall@0.25, a photo's verdict)
FOUND_IOU = 0.5  # a detection this close to a box is that box's (as AP@0.5 counts it)
