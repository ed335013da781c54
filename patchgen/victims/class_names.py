"""Class lookup shared by every victim family: a target class given by name, index or (ImageNet victims) WordNet
id, checked against the victim's own classes, with one line listing them when it is not one."""

import re

from patchgen.errors import UserError

SHOWN_NAMES = 20  # an ImageNet victim has 1000: the message lists the first few and the count
WNID = re.compile(r"n\d{8}")  # a WordNet noun id, as ImageNet names its classes (n01440764: tench)


class ClassNames:
    """Mixin for victims; the victim sets `names` (index order) and `name` (what the user called it), and `wnids`
    (index order) when its classes are ImageNet's."""

    names: list[str]
    name: str
    wnids: list[str] | None = None

    def class_id(self, target) -> int:
        """A class given by name, index or WordNet id, checked against this victim's classes."""
        if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
            index = int(target)
            if 0 <= index < len(self.names):
                return index
        elif target in self.names:
            return self.names.index(target)
        elif self.wnids and target in self.wnids:
            return self.wnids.index(target)
        if self.foreign_wnid(target):
            raise UserError(f"class {target!r} is an ImageNet WordNet id, but {self.name}'s classes are not "
                            f"ImageNet's: label by its own class names or indices ({self.known_classes()})")
        raise UserError(f"class {target!r} is not one of {self.name}'s classes ({self.known_classes()})")

    def foreign_wnid(self, target) -> bool:
        """A WordNet id given to a victim whose classes have none: a label from ImageNet's label space."""
        return isinstance(target, str) and WNID.fullmatch(target) is not None and not self.wnids

    def known_classes(self) -> str:
        known = ", ".join(self.names[:SHOWN_NAMES])
        return known + (f" ... ({len(self.names)} classes)" if len(self.names) > SHOWN_NAMES else "")

    def describe_class(self, index: int) -> str:
        """'tench (n01440764)', or just the name where the victim knows no WordNet ids."""
        return f"{self.names[index]} ({self.wnids[index]})" if self.wnids else self.names[index]
