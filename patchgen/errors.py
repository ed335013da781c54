"""The one exception type for user mistakes: the CLI prints its message as one line and exits non-zero."""


class UserError(Exception):
    """Bad input from the user (a missing file, an unknown model, a wrong config key...)."""
