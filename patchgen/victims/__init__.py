"""Victims: models behind one small interface per family. Detectors: `forward(images01) -> DetectorOutput`;
classifiers: `forward(images01) -> logits`."""

from patchgen.victims.classifier import ClassifierVictim, classifier_from_module
from patchgen.victims.detector import DetectorOutput, DetectorVictim
from patchgen.victims.zoo import load_victim

__all__ = ["ClassifierVictim", "DetectorOutput", "DetectorVictim", "classifier_from_module", "load_victim"]
