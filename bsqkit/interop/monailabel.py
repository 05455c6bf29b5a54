"""bsqkit's strategies in MONAI Label (``pip install "bsqkit[monailabel]"``).

A MONAI Label app registers a scoring method and an active-learning strategy:

.. code-block:: python

    from bsqkit.interop.monailabel import BsqkitScoring, BsqkitStrategy

    class MyApp(MONAILabelApp):
        def init_scoring_methods(self):
            return {"bsqkit": BsqkitScoring(method="bsq-greedy", cache=self.app_dir)}

        def init_strategies(self):
            return {"bsqkit": BsqkitStrategy()}

``POST /scoring/bsqkit`` ranks the datastore's unlabeled volumes with a bsqkit method
(:func:`~bsqkit.interop.volume_ranking.rank_volumes`: the segmenter trained on the
labeled volumes, the MMD-VAE on every slice and cached, a group query over volumes)
and writes, into each unlabeled image's info, ``bsqkit``: its rank in the chosen batch
(None when not chosen) and the strategy's own numbers. ``POST /activelearning/bsqkit``
then serves the best-ranked volume that is neither labeled nor being labeled (served to
a client within ``reset`` seconds), with the next ones of the batch. Bad input (no
unlabeled image, an unreadable file, a label of another shape) answers with an HTTP
error whose ``detail`` says what is wrong.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

try:
    from fastapi import HTTPException
    from monailabel.interfaces.datastore import Datastore
    from monailabel.interfaces.tasks.scoring import ScoringMethod
    from monailabel.interfaces.tasks.strategy import Strategy
except ImportError as exc:  # pragma: no cover - message only
    raise ImportError(
        'bsqkit.interop.monailabel needs MONAI Label: pip install "bsqkit[monailabel]"'
    ) from exc

from bsqkit.exceptions import InputError
from bsqkit.interop.volume_ranking import rank_volumes

__all__ = ["INFO_KEY", "BsqkitScoring", "BsqkitStrategy"]

# the key of bsqkit's scores in each image's info
INFO_KEY = "bsqkit"


class BsqkitScoring(ScoringMethod):
    """Rank the datastore's unlabeled volumes with a bsqkit method.

    Parameters
    ----------
    method : str, default="bsq-greedy"
        A method of :data:`bsqkit.catalogue.METHODS` (``bsq-greedy``, ``bsq-top``,
        ``suggestive-annotation``, ``random-foreground``...).
    profile : str or dict, default="cpu"
        The networks' and grid's settings (:func:`bsqkit.profiles.load_profile`).
    k : int, default=4
        Volumes chosen per scoring (fewer when fewer are unlabeled).
    classes : str, dict or None, default=None
        The classes to segment (``"47,48"``, ``"hippocampus=47+48"``); None: the
        profile's, else every label value.
    segmenter : fitted estimator, optional
        The model that scores uncertainty; None: the profile's segmenter, trained on the
        labeled volumes at each scoring.
    cache : str or Path, optional
        Folder of the cached MMD-VAE (e.g. the app's folder).
    label_tag : str, default="final"
        The label tag that counts as labeled.
    device : str, default="cpu"
        ``"cpu"`` or ``"cuda"``.
    seed : int, default=0
        Seeds the strategy and the networks.

    Examples
    --------
    >>> from bsqkit.interop.monailabel import BsqkitScoring  # doctest: +SKIP
    >>> BsqkitScoring(method="bsq-greedy", k=2).info()["description"]  # doctest: +SKIP
    'bsqkit: BSQ greedy, 2 volumes per scoring'
    """

    def __init__(
        self,
        method: str = "bsq-greedy",
        profile: str | dict = "cpu",
        k: int = 4,
        classes: str | dict | None = None,
        segmenter: Any = None,
        cache: str | Path | None = None,
        label_tag: str = "final",
        device: str = "cpu",
        seed: int = 0,
    ):
        from bsqkit.catalogue import find_method

        found = find_method(method)
        self.method = found.slug
        self.profile = profile
        self.k = k
        self.classes = classes
        self.segmenter = segmenter
        self.cache = cache
        self.label_tag = label_tag
        self.device = device
        self.seed = seed
        super().__init__(f"bsqkit: {found.name}, {k} volumes per scoring")

    def __call__(self, request: dict, datastore: Datastore) -> dict:
        tag = request.get("label_tag", self.label_tag)
        images = {i: datastore.get_image_uri(i) for i in datastore.list_images()}
        labels = {i: datastore.get_label_uri(i, tag) for i in datastore.get_labeled_images(tag)}
        try:
            ranked = rank_volumes(
                images,
                labels,
                method=request.get("bsqkit_method", self.method),
                profile=self.profile,
                k=min(int(request.get("k", self.k)), len(images.keys() - labels.keys())) or 1,
                classes=self.classes,
                segmenter=self.segmenter,
                cache=self.cache,
                device=request.get("device", self.device),
                seed=self.seed,
            )
        except InputError as exc:
            raise HTTPException(status_code=400, detail=f"bsqkit scoring: {exc}") from exc
        scored_at = int(time.time())
        chosen = {c["id"]: c for c in ranked["chosen"]}
        for image_id in ranked["unlabeled"]:
            info = {
                "method": ranked["method"],
                "scored_at": scored_at,
                "rank": None,
                **{k: v for k, v in chosen.get(image_id, {}).items() if k != "id"},
            }
            datastore.update_image_info(image_id, {INFO_KEY: info})
        return {
            "method": ranked["method"],
            "described": ranked["described"],
            "columns": ranked["columns"],
            "classes": ranked["classes"],
            "chosen": ranked["chosen"],
        }


class BsqkitStrategy(Strategy):
    """Serve the best-ranked volume of the last bsqkit scoring that is neither labeled
    nor being labeled.

    Parameters
    ----------
    reset : int, default=86400
        Seconds after which a volume served to a client counts as free again (it is
        being labeled until then).
    description : str, optional
        Shown in the app's info.

    Examples
    --------
    >>> from bsqkit.interop.monailabel import BsqkitStrategy  # doctest: +SKIP
    >>> BsqkitStrategy().info()["description"]  # doctest: +SKIP
    "the best-ranked volume of bsqkit's last scoring"
    """

    def __init__(self, reset: int = 24 * 60 * 60, description: str | None = None):
        self.reset = reset
        super().__init__(description or "the best-ranked volume of bsqkit's last scoring")

    def __call__(self, request: dict, datastore: Datastore) -> dict:
        images = datastore.get_unlabeled_images(request.get("label_tag"), request.get("labels"))
        if not images:
            raise HTTPException(
                status_code=409, detail="bsqkit: every image of the datastore is labeled"
            )
        now, strategy = int(time.time()), request.get("strategy", "bsqkit")
        ranked, served = [], []
        for image in images:
            info = datastore.get_image_info(image)
            rank = info.get(INFO_KEY, {}).get("rank")
            if rank is None:
                continue
            ts = info.get("strategy", {}).get(strategy, {}).get("ts", 0)
            (served if now - ts < self.reset else ranked).append((rank, image, info))
        if not ranked:
            why = (
                "the chosen volumes are being labeled"
                if served
                else "no unlabeled volume is ranked yet"
            )
            raise HTTPException(
                status_code=409,
                detail=f"bsqkit: {why}; run POST /scoring/bsqkit for the next volumes",
            )
        ranked.sort(key=lambda item: item[0])
        rank, image, info = ranked[0]
        return {"id": image, INFO_KEY: info[INFO_KEY], "next": [i for _, i, _ in ranked[1:]]}
