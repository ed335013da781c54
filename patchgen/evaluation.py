"""What a digital evaluation returns, whatever the family: a table (condition -> measure -> value), a grid of
example images, and the meaning of each measure for the report; and what every family's evaluation pastes."""

from dataclasses import dataclass, field

import numpy as np

from patchgen.errors import UserError

CONDITIONS = ("clean", "noise", "adv")  # no artifact; a random one of the same kind, shape and place; the artifact


@dataclass
class Evaluation:
    table: dict  # condition -> {measure: value}
    columns: dict  # measure -> its heading in tables
    grid: np.ndarray | None = field(repr=False, default=None)  # RGB uint8: examples per condition, side by side
    detections: dict = field(repr=False, default_factory=dict)  # detectors: condition -> per-image (n,6) arrays
    note: str = ""  # one paragraph for the report: what the conditions and measures mean here


def condition_artifacts(artifact, generator) -> dict:
    """{"noise": the artifact's random counterpart (its kind's random_like), "adv": the artifact}, both in eval mode
    (what is printed: a camouflage's hard palette choice)."""
    artifact.eval()
    return {"noise": artifact.random_like(generator).eval(), "adv": artifact}


def paste(images, artifact, placed, params, transform=None):
    """The artifact at its placement with evaluation's params; transform: optional callable on what is pasted
    (a simulated print)."""
    from patchgen import eot

    image, mask = artifact.appearance(params)
    return eot.render(transform(image) if transform else image, mask, images, placed, params)


def check_batch(batch) -> int:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UserError(f"--batch must be a whole number of images, at least 1; got {batch!r}")
    return batch
