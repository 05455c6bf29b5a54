"""A MONAI Label app with bsqkit's scoring and active-learning strategy.

    monailabel start_server --app docs/monailabel_app --studies STUDIES \
        --conf method bsq-greedy --conf profile cpu

``STUDIES`` is a folder of NIfTI volumes (MONAI Label's local datastore: labels go to
``STUDIES/labels/final/``). Then ``POST /scoring/bsqkit?run_sync=true`` ranks the
unlabeled volumes and ``POST /activelearning/bsqkit`` serves the next one. Settings
(``--conf``): ``method`` (a bsqkit method, default ``bsq-greedy``), ``profile`` (``cpu``,
``paper`` or a JSON file, default ``cpu``), ``k`` (volumes per scoring, default 4),
``classes`` (e.g. ``hippocampus=47+48``), ``device``, ``auto_update_scoring`` (``false``).
"""

from __future__ import annotations

import os

from monailabel.interfaces.app import MONAILabelApp

from bsqkit.interop.monailabel import BsqkitScoring, BsqkitStrategy


class BsqkitApp(MONAILabelApp):
    """Scoring and strategy only: annotate in 3D Slicer or OHIF, rank with bsqkit."""

    def __init__(self, app_dir, studies, conf):
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="bsqkit",
            description="Bayesian Sample Querying and peers (bsqkit) as MONAI Label strategies",
        )
        # MONAI Label reruns every scoring method at start and after each served sample;
        # bsqkit's scoring trains networks, so it runs when asked (POST /scoring/bsqkit),
        # between annotation sessions, unless --conf auto_update_scoring true
        self._auto_update_scoring = conf.get("auto_update_scoring", "false").lower() == "true"

    def init_infers(self):
        return {}

    def init_trainers(self):
        return {}

    def init_scoring_methods(self):
        return {
            "bsqkit": BsqkitScoring(
                method=self.conf.get("method", "bsq-greedy"),
                profile=self.conf.get("profile", "cpu"),
                k=int(self.conf.get("k", 4)),
                classes=self.conf.get("classes"),
                cache=os.path.join(self.app_dir, "bsqkit-cache"),
                device=self.conf.get("device", "cpu"),
            )
        }

    def init_strategies(self):
        return {"bsqkit": BsqkitStrategy()}
