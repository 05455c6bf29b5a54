"""Adapters that let bsqkit strategies run inside other active-learning libraries."""
