"""Annotation rounds on a user's own scans (``bsqkit suggest``)."""

from bsqkit.workflow.project import STRATEGIES, AnnotationProject

__all__ = ["STRATEGIES", "AnnotationProject"]
