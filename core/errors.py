"""The one exception type that means "the user's input is wrong"."""


class InputError(ValueError):
    """Bad input: the message is one line that names the file, row or column at fault.

    The command line prints it as is and exits with status 2; nothing else in the
    package raises it, so any other exception is a bug, not bad input.
    """
