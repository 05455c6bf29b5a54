"""The strategy names of ``bsqkit suggest`` (a module of its own: the CLI reads them
without importing the workflow's heavy dependencies)."""

STRATEGIES = (
    "bsq-greedy",
    "bsq-top",
    "suggestive-annotation",
    "uncertainty",
    "coreset",
    "random",
)
