"""
BSQ with an MMD-VAE on MNIST
============================

The paper's representativeness term lives in the latent space of an MMD-VAE (InfoVAE)
trained on the unlabeled pool. This example trains a small
:class:`~bsqkit.nets.MMDVAEEncoder` on 4,000 MNIST digits, starts from an imbalanced
annotated set (three classes ten times rarer, as in the paper's appendix) and lets
:class:`~bsqkit.BayesianSampleQuery` (no uncertainty term: ``n_uncertain=None``) and
:class:`~bsqkit.CoreSetQuery` pick ten digits at a time on the same codes, against
random picks. The measure is the class entropy of the annotated set (the closer to
log 10, the more balanced).

Data: MNIST from ``../shared/data`` or ``$BSQKIT_DATA`` when present (torchvision's
layout or the IDX files); otherwise scikit-learn's 8 x 8 digits, so that the example
runs anywhere.
"""

# %%
# Data and the encoder
# --------------------
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from bsqkit import BayesianSampleQuery, CoreSetQuery, RandomQuery
from bsqkit.datasets import load_digits_images, load_mnist
from bsqkit.experiments.entropy import imbalanced_initial_set
from bsqkit.metrics import class_entropy
from bsqkit.nets import MMDVAEEncoder

data = Path(os.environ.get("BSQKIT_DATA", "../shared/data"))
try:
    X, y = load_mnist(data / "mnist", split="train")
    source = "MNIST"
except (FileNotFoundError, OSError, ValueError):
    X, y = load_digits_images()
    source = "scikit-learn digits (MNIST not found)"
rng = np.random.RandomState(0)
subset = rng.choice(len(X), size=min(4000, len(X)), replace=False)
X, y = X[subset].astype(np.float32), y[subset]
print(f"{source}: {X.shape[0]} images of {X.shape[1:]}")

encoder = MMDVAEEncoder(
    n_latent=5,  # the paper's setup s1
    input_size=X.shape[-1],
    module__width=8,
    module__n_blocks=2,
    max_epochs=4,
    lr=1e-3,
    batch_size=64,
    random_state=0,
    progress_bar=False,
)
codes = encoder.fit(X).transform(X)
history = encoder.history[:, "train_loss"]
print(f"VAE loss {history[0]:.3f} -> {history[-1]:.3f} over {len(history)} epochs")

# %%
# Querying from an imbalanced start
# ---------------------------------
# The encoder is fitted already, so the strategies use its codes as they are
# (an unfitted encoder would be fitted on the pool images first).
initial, rare = imbalanced_initial_set(y, n_init=10, n_classes=10, rng=rng)
print("classes made ten times rarer in the initial draw:", rare)

strategies = {
    "BSQ greedy": BayesianSampleQuery(encoder=encoder, batch_mode="greedy", random_state=0),
    "BSQ top": BayesianSampleQuery(encoder=encoder, batch_mode="top", random_state=0),
    "CoreSet": CoreSetQuery(encoder=encoder, random_state=0),
    "Random": RandomQuery(random_state=0),
}
entropy = {}
for name, strategy in strategies.items():
    annotated = list(initial)
    curve = [class_entropy(y[annotated], n_classes=10)]
    for _ in range(12):
        pool = np.setdiff1d(np.arange(len(X)), annotated)
        idx, _ = strategy.query(X[pool], X_labeled=X[annotated], n_instances=10)
        annotated.extend(pool[idx])
        curve.append(class_entropy(y[annotated], n_classes=10))
    entropy[name] = curve
    print(f"{name:>10}: class entropy {curve[0]:.3f} -> {curve[-1]:.3f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, curve in entropy.items():
    ax.plot(np.arange(len(curve)), curve, marker="o", ms=3, label=name)
ax.axhline(np.log(10), color="k", lw=0.8, ls="--", label="log 10 (balanced)")
ax.set_xlabel("query iteration (10 images each)")
ax.set_ylabel("class entropy of the annotated set")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# One run on one draw is an anecdote: ``bsqkit benchmark entropy --setup s1`` runs the
# appendix protocol (five imbalanced draws, 30 iterations, the full pool) and reports
# mean and spread. On full MNIST, random picks balance classes best there too; see the
# benchmarks page.
