"""Victims: models behind one small interface (`forward(images01) -> DetectorOutput`)."""

from patchgen.victims.detector import DetectorOutput, DetectorVictim
from patchgen.victims.zoo import load_victim

__all__ = ["DetectorOutput", "DetectorVictim", "load_victim"]
