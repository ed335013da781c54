"""Expectation over transformation: `sample(n, generator, settings, px) -> Params`, then `render(...)`."""

from patchgen.eot.params import EOTSettings, Params, identity, sample
from patchgen.eot.render import render, window_size

__all__ = ["EOTSettings", "Params", "identity", "sample", "render", "window_size"]
