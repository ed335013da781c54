"""Expectation over transformation: `sample(n, generator, settings, px) -> Params`, then `render(...)`."""

from patchgen.eot.params import EOTSettings, Params, identity, sample
from patchgen.eot.render import jitter_matrix, reach, render, window_size

__all__ = ["EOTSettings", "Params", "identity", "jitter_matrix", "reach", "sample", "render", "window_size"]
