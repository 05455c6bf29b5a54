"""What to cite when bsqkit helped: the paper, the methods it ships, and bsqkit."""

from __future__ import annotations

__all__ = ["BIBTEX", "cite"]

BIBTEX = {
    "paper": """@article{ozdemir2021bsq,
  title   = {Active learning for segmentation based on {Bayesian} sample queries},
  author  = {Ozdemir, Firat and Peng, Zixuan and F{\\"u}rnstahl, Philipp and
             Tanner, Christine and Goksel, Orcun},
  journal = {Knowledge-Based Systems},
  volume  = {214},
  pages   = {106531},
  year    = {2021},
  doi     = {10.1016/j.knosys.2020.106531}
}""",
    "bsqkit": """@software{bsqkit,
  title   = {bsqkit: {Bayesian} Sample Querying and peers for active learning in
             image segmentation},
  author  = {{The bsqkit developers}},
  version = {VERSION},
  license = {BSD-3-Clause},
  year    = {2026}
}""",
    "suggestive_annotation": """@inproceedings{yang2017suggestive,
  title     = {Suggestive annotation: a deep active learning framework for biomedical
               image segmentation},
  author    = {Yang, Lin and Zhang, Yizhe and Chen, Jianxu and Zhang, Siyuan and
               Chen, Danny Z.},
  booktitle = {Medical Image Computing and Computer Assisted Intervention (MICCAI)},
  pages     = {399--407},
  year      = {2017}
}""",
    "coreset": """@inproceedings{sener2018coreset,
  title     = {Active learning for convolutional neural networks: a core-set approach},
  author    = {Sener, Ozan and Savarese, Silvio},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year      = {2018}
}""",
    "infovae": """@inproceedings{zhao2019infovae,
  title     = {{InfoVAE}: balancing learning and inference in variational autoencoders},
  author    = {Zhao, Shengjia and Song, Jiaming and Ermon, Stefano},
  booktitle = {AAAI Conference on Artificial Intelligence},
  pages     = {5885--5892},
  year      = {2019},
  note      = {arXiv:1706.02262}
}""",
}


def cite(which: str | None = None) -> str:
    """BibTeX entries: the paper (BSQ), bsqkit, and the methods it ships.

    Parameters
    ----------
    which : str, optional
        One key of :data:`BIBTEX` (``"paper"``, ``"bsqkit"``, ``"suggestive_annotation"``,
        ``"coreset"``, ``"infovae"``); all by default.

    Returns
    -------
    str

    Examples
    --------
    >>> from bsqkit.citations import cite
    >>> print(cite("paper").splitlines()[0])
    @article{ozdemir2021bsq,
    """
    from bsqkit import __version__

    if which is not None and which not in BIBTEX:
        raise ValueError(f"which must be one of {sorted(BIBTEX)}, got {which!r}")
    keys = BIBTEX if which is None else [which]
    return "\n\n".join(BIBTEX[k].replace("VERSION", __version__) for k in keys)
