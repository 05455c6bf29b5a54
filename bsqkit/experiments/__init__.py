"""The paper's protocols as functions of a configuration; they return result records."""

from bsqkit.experiments.digits import DigitsConfig, run_digits_curve

__all__ = ["DigitsConfig", "run_digits_curve"]
