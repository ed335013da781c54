"""Class lookup shared by every victim family: a target class given by name or index, checked against the
victim's own names, with one line listing them when it is not one."""

from patchgen.errors import UserError

SHOWN_NAMES = 20  # an ImageNet victim has 1000: the message lists the first few and the count


class ClassNames:
    """Mixin for victims; the victim sets `names` (index order) and `name` (what the user called it)."""

    names: list[str]
    name: str

    def class_id(self, target) -> int:
        """A class given by name or index, checked against this victim's names."""
        if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
            index = int(target)
            if 0 <= index < len(self.names):
                return index
        elif target in self.names:
            return self.names.index(target)
        known = ", ".join(self.names[:SHOWN_NAMES])
        if len(self.names) > SHOWN_NAMES:
            known += f" ... ({len(self.names)} classes)"
        raise UserError(f"class {target!r} is not one of {self.name}'s classes ({known})")
