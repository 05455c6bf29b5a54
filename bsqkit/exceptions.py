"""Exceptions of bsqkit."""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad input data or settings (a folder, a file, a profile): the message names it.

    The command line prints it as one line and exits with status 2, without a
    traceback.

    Examples
    --------
    >>> from bsqkit.exceptions import InputError
    >>> issubclass(InputError, ValueError)
    True
    """
