"""Victims: models behind one protocol (victims/protocol.py). Detectors: `forward(images01) -> DetectorOutput`;
classifiers: `forward(images01) -> logits`; both `query(images01)` for what a caller of the model sees.

The names below load on first use: the config check imports query-only adapters' settings from this package
before torch loads."""

import importlib

_HOMES = {"ClassifierVictim": "classifier", "classifier_from_module": "classifier", "DetectorOutput": "detector",
          "DetectorVictim": "detector", "load_victim": "zoo"}

__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'patchgen.victims' has no attribute {name!r}")
    return getattr(importlib.import_module(f"patchgen.victims.{_HOMES[name]}"), name)
