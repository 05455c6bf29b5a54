"""
bsqkit strategies in modAL and scikit-learn tooling
===================================================

A bsqkit strategy is also a modAL query strategy: ``strategy(learner, X_pool,
n_instances=k)`` returns ``(indices, scores)``, the signature modAL's
``ActiveLearner.query`` calls. And it is a scikit-learn estimator-like object:
``get_params``, ``set_params`` and ``clone`` work, so strategies can be configured,
copied and stored like models. Data: scikit-learn's breast-cancer table (embedded).

modAL is installed separately, without its dependencies (``pip install --no-deps
modAL-python``), because it pins an old skorch. Its ``teach`` fails on scikit-learn
1.8 and later (a modAL bug: ``check_X_y(force_all_finite=...)``), so this example builds
a fresh modAL learner on the grown labeled set after each query; querying works as is.
"""

# %%
# Querying through modAL
# ----------------------
import numpy as np
from modAL.models import ActiveLearner as ModALLearner
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bsqkit import CoreSetQuery, UncertaintyQuery

X, y = load_breast_cancer(return_X_y=True)
rng = np.random.RandomState(0)
labeled = list(rng.choice(len(X), size=10, replace=False))


def model():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


strategy = UncertaintyQuery(n_instances=5, random_state=0)  # predictive entropy here
for round_ in range(4):
    pool = np.setdiff1d(np.arange(len(X)), labeled)
    learner = ModALLearner(
        estimator=model(), query_strategy=strategy, X_training=X[labeled], y_training=y[labeled]
    )
    idx, _ = learner.query(X[pool])  # modAL calls strategy(learner, X_pool, ...)
    labeled.extend(pool[idx])
    print(
        f"round {round_}: queried {pool[idx].tolist()}, accuracy on the rest "
        f"{learner.score(X[pool], y[pool]):.3f}"
    )

# %%
# Parameters, clones and batch size
# ---------------------------------
# Strategies follow scikit-learn's conventions: ``__init__`` stores arguments, and a
# clone is an unfitted copy with the same parameters. ``n_instances`` given to the call
# overrides the stored batch size.
coreset = CoreSetQuery(encoder=PCA(n_components=5), n_instances=3, random_state=0)
print(coreset.get_params(deep=False))
wider = clone(coreset).set_params(n_instances=8)
pool = np.setdiff1d(np.arange(len(X)), labeled)
scaled = StandardScaler().fit_transform(X)
for s in (coreset, wider):
    idx, scores = s.query(scaled[pool], X_labeled=scaled[labeled])
    print(f"{type(s).__name__}(n_instances={s.n_instances}) picks {pool[idx].tolist()}")
# modAL's way: the strategy reads the labeled set from the learner (same scaled space)
learner = ModALLearner(estimator=model(), X_training=scaled[labeled], y_training=y[labeled])
idx, _ = coreset(learner, scaled[pool], n_instances=2)
print("called the modAL way with n_instances=2:", pool[idx].tolist())
