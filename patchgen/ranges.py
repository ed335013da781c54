"""Config fields that carry a rule beside them: a number's allowed range, a file's path (made absolute). Used by the
config and by every plug-in's own settings (torch-free, like the config)."""

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Range:
    """The values a numeric key allows; `open_low` excludes `low` itself (lr > 0)."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False

    def __contains__(self, value) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        return above and (self.high is None or value <= self.high)

    def __str__(self) -> str:
        def show(x):  # integers exactly (a seed's limit), floats short
            return str(x) if isinstance(x, int) else f"{x:g}"

        if self.high is None:
            return f"{'>' if self.open_low else '>='} {show(self.low)}"
        return f"in {'(' if self.open_low else '['}{show(self.low)}, {show(self.high)}]"


def path(default: str = ""):
    """A config field naming a file: relative to the folder the command runs in, made absolute when the config
    loads (config.make_paths_absolute), so that the run's recorded config names the same file from anywhere."""
    return field(default=default, metadata={"path": True})


def number(default, low=None, high=None, open_low=False):
    """A numeric config field with its allowed range beside it (pairs: both ends, and low <= high; mappings:
    every value). A callable default is a factory (a mapping's default)."""
    kind = {"default_factory": default} if callable(default) else {"default": default}
    return field(**kind, metadata={"range": Range(low, high, open_low)})
