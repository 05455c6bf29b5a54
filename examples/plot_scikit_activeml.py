"""
bsqkit strategies in scikit-activeml
====================================

scikit-activeml's pool strategies take ``query(X, y, clf, batch_size=...)``, with ``y``
holding ``MISSING_LABEL`` for the unlabeled samples, and return indices into ``X``.
:class:`~bsqkit.interop.skactiveml.SkactivemlAdapter` gives any bsqkit strategy that
face, so it runs in scikit-activeml's loop beside its own strategies.
"""

# %%
# scikit-activeml's loop, a bsqkit strategy and one of scikit-activeml's
# ------------------------------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from skactiveml.classifier import SklearnClassifier
from skactiveml.pool import UncertaintySampling
from skactiveml.utils import MISSING_LABEL
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from bsqkit import BayesianSampleQuery
from bsqkit.interop.skactiveml import SkactivemlAdapter

X, y_true = load_digits(return_X_y=True)
X_test, y_test = X[1200:], y_true[1200:]
X, y_true = X[:1200], y_true[:1200]

strategies = {
    "bsqkit BSQ greedy + uncertainty": SkactivemlAdapter(
        BayesianSampleQuery(encoder=PCA(8), n_uncertain=40, batch_mode="greedy", random_state=0)
    ),
    "scikit-activeml UncertaintySampling": UncertaintySampling(random_state=0),
}
curves = {}
for name, qs in strategies.items():
    y = np.full(len(X), MISSING_LABEL)
    y[:20] = y_true[:20]
    clf = SklearnClassifier(LogisticRegression(max_iter=500), classes=np.arange(10))
    clf.fit(X, y)
    curve = [clf.score(X_test, y_test)]
    for _ in range(10):
        query_idx = qs.query(X=X, y=y, clf=clf, batch_size=10)
        y[query_idx] = y_true[query_idx]  # the annotator
        clf.fit(X, y)
        curve.append(clf.score(X_test, y_test))
    curves[name] = curve
    print(f"{name}: accuracy {curve[0]:.3f} -> {curve[-1]:.3f}")

fig, ax = plt.subplots(figsize=(5.5, 3.5))
for name, curve in curves.items():
    ax.plot(20 + 10 * np.arange(len(curve)), curve, marker="o", ms=3, label=name)
ax.set_xlabel("labeled samples")
ax.set_ylabel("test accuracy")
ax.legend(fontsize=8)
fig.tight_layout()
