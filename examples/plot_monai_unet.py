"""
A MONAI network as the segmenter
================================

Medical-imaging users build segmenters with MONAI. Any MONAI network with dropout
works as :class:`~bsqkit.nets.NeuralNetSegmenter`'s ``module``, configured by
``module__*`` parameters; MC-dropout uncertainty then takes the generic path: ``n_mc``
full passes with only the dropout modules stochastic (batch normalisation stays in
inference mode). Needs the ``monai`` extra (``pip install "bsqkit[monai]"``).
"""

# %%
# Phantom slices and a MONAI UNet
# -------------------------------
import matplotlib.pyplot as plt
import numpy as np
from monai.networks.nets import UNet

from bsqkit import UncertaintyQuery
from bsqkit.experiments.segmentation.data import prepare_dataset, split_holdout
from bsqkit.nets import NeuralNetSegmenter

data = prepare_dataset("phantom", image_size=48, n_subjects=4, phantom_size=4)
split = split_holdout(data, (0.70, 0.05, 0.25), holdout=0)
X_pool, y_pool = split["X_pool"], split["y_pool"]
annotated = np.random.RandomState(0).choice(len(X_pool), 40, replace=False)

segmenter = NeuralNetSegmenter(
    module=UNet,
    n_classes=data.n_classes,
    module__spatial_dims=2,
    module__in_channels=1,
    module__out_channels=data.n_classes,
    module__channels=(16, 32, 64),
    module__strides=(2, 2),
    module__num_res_units=1,
    module__dropout=0.2,  # what MC dropout samples
    module__norm="batch",
    max_steps=300,
    lr=3e-3,
    class_weight=None,
    random_state=0,
    progress_bar=False,
).fit(X_pool[annotated], y_pool[annotated])

# %%
# The most uncertain slices
# -------------------------
rest = np.setdiff1d(np.arange(len(X_pool)), annotated)
idx, uncertainty = UncertaintyQuery(n_mc=8, n_instances=4, random_state=0).query(
    X_pool[rest], estimator=segmenter
)
fig, axes = plt.subplots(1, 4, figsize=(10, 2.8))
for ax, i, u in zip(axes, rest[idx], uncertainty, strict=True):
    ax.imshow(X_pool[i].T, cmap="gray")
    ax.imshow(
        np.ma.masked_equal(segmenter.predict(X_pool[i : i + 1])[0].T, 0),
        cmap="tab10",
        vmin=0,
        vmax=9,
        alpha=0.5,
    )
    ax.set_title(f"slice {i}: {u:.4f}", fontsize=8)
    ax.axis("off")
fig.suptitle("MONAI UNet: the four most uncertain pool slices (MC-dropout variance)")
fig.tight_layout()
