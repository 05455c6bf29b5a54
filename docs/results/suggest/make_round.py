"""Make the real round shown in docs/user_guide/annotating.rst.

python docs/results/suggest/make_round.py /tmp/suggest-example
then, for the screenshot:
chromium --headless --no-sandbox --disable-gpu --user-data-dir=/tmp/chromium \
    --virtual-time-budget=5000 --window-size=900,1400 \
    --screenshot=docs/user_guide/images/report_round1.png \
    file:///tmp/suggest-example/rounds/001/report.html
"""

import json
import shutil
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from bsqkit.datasets import PHANTOM_LABELS, make_shoulder_phantom
from bsqkit.workflow import AnnotationProject

root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/suggest-example")
shutil.rmtree(root, ignore_errors=True)
(root / "images").mkdir(parents=True)
(root / "labels").mkdir()
# the class names the report shows
labels = {str(k): name for k, name in PHANTOM_LABELS.items()}
(root / "labels.json").write_text(json.dumps({"labels": labels}))
for i, s in enumerate(make_shoulder_phantom(6, random_state=0, harmonised=False)):
    image = ndimage.zoom(s.image, (0.5, 0.5, 0.25), order=1).astype(np.float32)
    label = ndimage.zoom(s.label, (0.5, 0.5, 0.25), order=0).astype(np.uint8)
    affine = np.diag([2 * s.spacing[0], 2 * s.spacing[1], 4 * s.spacing[2], 1.0])
    nib.save(nib.Nifti1Image(image, affine), root / "images" / f"{s.id}.nii.gz")
    if i < 2:  # two subjects labeled so far
        nib.save(nib.Nifti1Image(label, affine), root / "labels" / f"{s.id}.nii.gz")
result = AnnotationProject(root).suggest(
    unit="slice", n_instances=6, max_steps=300, vae_epochs=3, image_size=48
)
shutil.copy(result["folder"] / "suggestions.csv", Path(__file__).parent / "suggestions.csv")
print(result["folder"] / "report.html")
