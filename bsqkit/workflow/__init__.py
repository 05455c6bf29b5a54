"""Annotation rounds on a user's own scans (``bsqkit suggest``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bsqkit.catalogue import METHODS

__all__ = ["STRATEGIES", "AnnotationProject"]

# the command-line names of the catalogue's methods (``--strategy``)
STRATEGIES = tuple(m.slug for m in METHODS)

if TYPE_CHECKING:
    from bsqkit.workflow.project import AnnotationProject


def __getattr__(name: str) -> Any:
    # imported on first use, so that the CLI's parser needs no nibabel, torch or sklearn
    if name == "AnnotationProject":
        from bsqkit.workflow.project import AnnotationProject

        return AnnotationProject
    raise AttributeError(f"module 'bsqkit.workflow' has no attribute {name!r}")
