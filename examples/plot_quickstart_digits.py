"""
Quick start: an active-learning loop on digits
==============================================

Which of 1,257 unlabeled digit images should an annotator label next? This example
runs the loop by hand with :class:`~bsqkit.ActiveLearner` and
:class:`~bsqkit.BayesianSampleQuery`, then compares strategies over several seeds with
:func:`~bsqkit.experiments.run_digits_curve`. Data: scikit-learn's digits (embedded).
"""

# %%
# The loop
# --------
# The learner holds the model and the labeled set; ``query`` returns the indices of
# the pool samples to annotate next and the samples themselves. Here the "annotator"
# is the held-back label array.
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from bsqkit import ActiveLearner, BayesianSampleQuery, RandomQuery

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_pool, X_test, y_pool, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

rng = np.random.RandomState(0)
initial = rng.choice(len(X_pool), size=10, replace=False)


def run_loop(strategy, n_queries=8):
    """Annotate ``n_queries`` batches of 10; return (n_labeled, test accuracy) pairs."""
    unlabeled = np.setdiff1d(np.arange(len(X_pool)), initial)
    learner = ActiveLearner(
        estimator=LogisticRegression(max_iter=2000),
        query_strategy=strategy,
        X_training=X_pool[initial],
        y_training=y_pool[initial],
    )
    curve = [(10, learner.score(X_test, y_test))]
    for _ in range(n_queries):
        idx, X_query = learner.query(X_pool[unlabeled])
        learner.teach(X_query, y_pool[unlabeled[idx]])  # the annotator's labels
        unlabeled = np.delete(unlabeled, idx)
        curve.append((curve[-1][0] + len(idx), learner.score(X_test, y_test)))
    return np.array(curve)


bsq = BayesianSampleQuery(
    encoder=PCA(n_components=8),  # the representation space; the paper uses an MMD-VAE
    n_uncertain=40,  # shortlist of the 40 most uncertain samples...
    batch_mode="greedy",  # ...from which 10 representative ones are picked
    n_instances=10,
    random_state=0,
)
curves = {"BSQ greedy": run_loop(bsq), "Random": run_loop(RandomQuery(n_instances=10))}
for name, curve in curves.items():
    print(f"{name:>10}: accuracy {curve[0, 1]:.3f} -> {curve[-1, 1]:.3f} at {curve[-1, 0]:.0f}")

# %%
# Comparing strategies over seeds
# -------------------------------
# One loop on one seed says little. :func:`~bsqkit.experiments.run_digits_curve` runs
# every method from the same initial sets over several seeds; the figure shows the mean
# and one standard deviation. ``bsqkit quickstart`` runs the same from the shell.
from bsqkit.experiments import DigitsConfig, run_digits_curve
from bsqkit.plotting import curve_summary, format_curve_table, plot_learning_curves

config = DigitsConfig(
    n_iterations=8,
    seeds=(0, 1, 2),
    methods=("Random", "Uncertainty", "CoreSet", "BSQ greedy"),
)
records = run_digits_curve(config, progress=False)
summary = curve_summary(records, metric="accuracy", x="n_labeled")
print(format_curve_table(summary, every=2))
fig = plot_learning_curves(summary, title="digits, logistic regression, 3 seeds")
