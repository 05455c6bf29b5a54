"""Renamed public names keep working for a while, with a FutureWarning that names the new one."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def renamed_keywords(**renames: str) -> Callable[[F], F]:
    """Accept each old keyword argument (the key) for its new name (the value).

    The signature shown (``inspect.signature``, the docs) is the new one.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{fn.__qualname__}() got {old!r} and its new name {new!r}"
                        )
                    warnings.warn(
                        f"{fn.__qualname__}'s {old} is renamed {new}",
                        FutureWarning,
                        stacklevel=2,
                    )
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def renamed_function(new: F, old_name: str) -> F:
    """``new`` under its old name ``old_name``, warning at each call."""

    @functools.wraps(new)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(f"{old_name} is renamed {new.__name__}", FutureWarning, stacklevel=2)
        return new(*args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = old_name
    wrapper.__doc__ = f"Deprecated name of :func:`{new.__module__}.{new.__name__}`."
    return wrapper  # type: ignore[return-value]
