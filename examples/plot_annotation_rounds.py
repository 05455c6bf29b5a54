"""
Annotation rounds on your own scans
===================================

``bsqkit suggest`` (here its Python face, :class:`~bsqkit.workflow.AnnotationProject`)
runs annotation rounds on a folder of NIfTI scans: ``images/`` holds the scans,
``labels/`` what is annotated so far. Each round trains the segmenter on the annotated
slices, scores the others and writes ``rounds/NNN/`` with the ranked suggestions,
pictures, prelabels on each image's own grid and an HTML report. Here six small phantom
shoulders are written as NIfTI, one of them labeled, and this script plays the
annotator between two rounds.
"""

# %%
# A project folder
# ----------------
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
from scipy import ndimage

from bsqkit.datasets import make_shoulder_phantom
from bsqkit.workflow import AnnotationProject

root = Path(tempfile.mkdtemp()) / "project"
(root / "images").mkdir(parents=True)
(root / "labels").mkdir()
truth = {}
for k, s in enumerate(make_shoulder_phantom(6, random_state=0, harmonised=False)):
    # a quarter of the phantom's resolution keeps the example fast
    image = ndimage.zoom(s.image, 0.25, order=1).astype(np.float32)
    label = ndimage.zoom(s.label, 0.25, order=0).astype(np.uint8)
    affine = np.diag([*(4 * np.asarray(s.spacing)), 1.0])
    nib.save(nib.Nifti1Image(image, affine), root / "images" / f"{s.id}.nii.gz")
    truth[s.id] = (label, affine)
    if k == 0:  # one volume labeled so far
        nib.save(nib.Nifti1Image(label, affine), root / "labels" / f"{s.id}.nii.gz")

# %%
# Round 1
# -------
# On a CPU, a few hundred training steps; the defaults are sized for a GPU.
project = AnnotationProject(root)
settings = dict(unit="slice", n_instances=6, max_steps=100, vae_epochs=3, image_size=24)
first = project.suggest(**settings)
for row in first["suggestions"]:
    print(row["rank"], row["subject"], "slice", row["slice"], f"score {row['score']:.3g}")

# %%
# The annotator labels the suggested slices
# ------------------------------------------
# In practice: open ``prelabels/<subject>.nii.gz`` in 3D Slicer or ITK-SNAP, correct it,
# save it into ``labels/``. Here the ground truth of each suggested slice is copied; a
# slice with nothing to draw is confirmed as background in ``annotated.csv``.
background = ["subject,slice"]
for row in first["suggestions"]:
    label, affine = truth[row["subject"]]
    path = root / "labels" / f"{row['subject']}.nii.gz"
    current = np.asarray(nib.load(path).dataobj) if path.exists() else np.zeros_like(label)
    current[..., row["slice"]] = label[..., row["slice"]]
    nib.save(nib.Nifti1Image(current, affine), path)
    if not label[..., row["slice"]].any():
        background.append(f"{row['subject']},{row['slice']}")
(root / "annotated.csv").write_text("\n".join(background) + "\n")

# %%
# Round 2: never the same slices again
# ------------------------------------
second = project.suggest(**settings)
again = {(r["subject"], r["slice"]) for r in first["suggestions"]} & {
    (r["subject"], r["slice"]) for r in second["suggestions"]
}
print("suggested twice:", again or "none")
print("round 1's model on the slices annotated after it:", second["validation"])

fig, ax = plt.subplots(figsize=(9, 4))
ax.imshow(plt.imread(second["folder"] / "suggestions.png"))
ax.axis("off")
ax.set_title("rounds/002/suggestions.png")
fig.tight_layout()
