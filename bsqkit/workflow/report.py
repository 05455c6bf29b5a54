"""What a round writes for the annotator: a table, pictures, prelabels, an HTML report."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from bsqkit.datasets.slicing import stored_slice_index, to_stored_orientation

__all__ = ["save_prelabel", "write_round_outputs"]

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>bsqkit round {number}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th {{ background: #f3f3f3; }} td.name {{ text-align: left; }}
img.thumb {{ width: 140px; height: 140px; display: block; }}
span.swatch {{ display: inline-block; width: 12px; height: 12px; opacity: 0.6; }}
dt {{ font-weight: bold; margin-top: 0.4em; }}
</style></head>
<body data-round="{number}">
<h1>Round {number}: annotate these {n} {unit}s next</h1>
<p>Chosen by {described}. Slice numbers count from 0 along the file's slice axis (ITK-SNAP
counts from 1). Prelabels are in <code>prelabels/</code>: the current model's segmentation
on each image's own grid, of the suggested slices only (the rest is the volume's current
labels); correct them in 3D Slicer or ITK-SNAP and save them into <code>labels/</code>
under the image's name, then run <code>bsqkit suggest</code> again.</p>
<table id="suggestions">
<tr><th>rank</th><th>subject</th><th>{unit}</th>{heads}<th>view (prediction overlaid)</th></tr>
{rows}
</table>
<p id="legend">Overlay colours: {legend}. Letters at the edges of each view give the
patient's directions (R/L right/left, A/P anterior/posterior, S/I superior/inferior).</p>
<dl id="columns">{explained}</dl>
<h2>The model over rounds</h2>
{validation}
<h2>Settings</h2>
<table id="settings">{settings}</table>
<p>Written by bsqkit {version} in {elapsed:.0f} s.</p>
<script>
window.addEventListener("load", function () {{
  var shown = 0;
  document.querySelectorAll("img.thumb").forEach(function (im) {{
    if (im.complete && im.naturalWidth > 0) {{ shown += 1; }}
  }});
  document.body.setAttribute("data-thumbnails-shown", String(shown));
}});
</script>
</body></html>
"""


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.4g}"
    return html.escape(str(value))


# the patient directions of the canonical (RAS+) axes' two ends
_TOWARDS, _AWAY = ("R", "A", "S"), ("L", "P", "I")


def orientation_letters(slice_axis: int) -> dict[str, str]:
    """The patient direction at each edge of a slice as :func:`_show` draws it.

    Slices are canonical (RAS+), slice axis first; drawn as 3D Slicer and ITK-SNAP show
    them (radiological convention): the second in-plane axis to the top (anterior or
    superior up), the first from the right to the left (the patient's right on the
    viewer's left).

    Parameters
    ----------
    slice_axis : int
        The canonical slice axis (0 sagittal, 1 coronal, 2 axial).

    Returns
    -------
    dict
        ``top``, ``bottom``, ``left``, ``right``: ``"R"``, ``"L"``, ``"A"``, ``"P"``,
        ``"S"`` or ``"I"``.

    Examples
    --------
    >>> from bsqkit.workflow.report import orientation_letters
    >>> orientation_letters(2)  # axial
    {'top': 'A', 'bottom': 'P', 'left': 'R', 'right': 'L'}
    """
    first, second = (a for a in range(3) if a != slice_axis)
    return {
        "top": _TOWARDS[second],
        "bottom": _AWAY[second],
        "left": _TOWARDS[first],
        "right": _AWAY[first],
    }


def class_colors(n: int) -> Any:
    """The overlay colours of classes 1..n (tab10, repeating after ten): the same in the
    thumbnails, the figure's legend and the page's."""
    from matplotlib import colormaps

    return colormaps["tab10"](np.arange(n) % 10)


def _radiological(slice_: Any) -> Any:
    """A canonical slice as viewers show it: second axis up, first axis right to left."""
    return np.fliplr(np.rot90(slice_))


def _show(ax, image, label, n_classes, slice_axis=None):
    from matplotlib.colors import ListedColormap

    ax.imshow(_radiological(image), cmap="gray")
    if slice_axis is not None:
        letters = orientation_letters(slice_axis)
        style = {"color": "yellow", "fontsize": 7, "fontweight": "bold"}
        for where, (x, y, ha, va) in {
            "top": (0.5, 0.98, "center", "top"),
            "bottom": (0.5, 0.02, "center", "bottom"),
            "left": (0.02, 0.5, "left", "center"),
            "right": (0.98, 0.5, "right", "center"),
        }.items():
            ax.text(x, y, letters[where], transform=ax.transAxes, ha=ha, va=va, **style)
    if label is not None and label.any():
        colors = class_colors(max(n_classes - 1, 1))
        overlay = np.ma.masked_where(label == 0, label - 1)
        ax.imshow(
            _radiological(overlay),
            cmap=ListedColormap(colors),
            vmin=0,
            vmax=max(n_classes - 2, 0),
            alpha=0.45,
            interpolation="none",
        )
    ax.axis("off")


def write_round_outputs(
    folder: Path,
    number: int,
    suggestions: list[dict],
    chosen_rows: list,
    volumes: list,
    seg: Any,
    settings: dict,
    classes: Any,
    validation: list[dict],
    previous_rounds: list[dict],
    described: str,
    columns: dict[str, str],
    elapsed: float,
) -> None:
    """suggestions.csv, thumbnails, suggestions.png, prelabels/ and report.html."""
    # Figure objects, not pyplot: nothing to show, no backend to choose
    from matplotlib.figure import Figure

    from bsqkit import __version__
    from bsqkit._io import write_csv_atomic

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "thumbs").mkdir()
    unit = settings["unit"]
    labels = classes.as_dict()
    n_classes = max(classes.n_classes, 2)
    write_csv_atomic(folder / "suggestions.csv", suggestions)
    by_id = {v.id: v for v in volumes}
    # one picture per suggestion: the slice (a volume's middle slice) and the prediction
    views = []
    for s in suggestions:
        v = by_id[s["subject"]]
        if unit == "volume":
            k = len(v.X) // 2
        else:
            k = next(k for w, k in chosen_rows if w.id == v.id and _stored(w, k) == s["slice"])
        pred = None if seg is None else seg.predict(v.X[k : k + 1])[0]
        views.append((v.X[k], pred, v.axis))
    for row, (image, pred, axis) in enumerate(views, start=1):
        fig = Figure(figsize=(2, 2), dpi=80)
        _show(fig.subplots(), image, pred, n_classes, axis)
        fig.subplots_adjust(0, 0, 1, 1)
        fig.savefig(folder / "thumbs" / f"row_{row:02d}.png")
    shown = views[:24]
    cols = min(6, len(shown))
    n_rows = int(np.ceil(len(shown) / cols))
    fig = Figure(figsize=(2 * cols, 2.2 * n_rows))
    axes = fig.subplots(n_rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, s, (image, pred, axis) in zip(axes.ravel(), suggestions, shown, strict=False):
        _show(ax, image, pred, n_classes, axis)
        where = "" if s["slice"] is None else f" slice {s['slice']}"
        ax.set_title(f"#{s['rank']} {s['subject']}{where}", fontsize=7)
    fig.tight_layout()
    if seg is not None and classes.names:
        from matplotlib.patches import Patch

        # tab10 as in the overlays: ten classes have colours of their own
        colors = class_colors(len(classes.names))
        handles = [
            Patch(color=c, alpha=0.45, label=name)
            for c, name in zip(colors, classes.names[:10], strict=False)
        ]
        fig.legend(handles=handles, loc="lower center", ncol=min(6, len(handles)), fontsize=7)
        fig.subplots_adjust(bottom=0.12 / n_rows + 0.04)
    fig.savefig(folder / "suggestions.png", dpi=100)
    if seg is not None:
        for subject in dict.fromkeys(s["subject"] for s in suggestions):
            v = by_id[subject]
            only = None  # a volume is annotated whole; slices one by one
            if unit == "slice":
                only = [k for w, k in chosen_rows if w.id == subject]
            path = folder / "prelabels" / f"{subject}.nii.gz"
            save_prelabel(v, seg.predict(v.X), path, classes, only=only)
    validation_html = "<p>No validation yet: it needs a model and slices annotated after it.</p>"
    if validation:
        names = [n for k, n in labels.items() if k]
        figure_html = ""
        if len(validation) >= 2:  # a curve needs two rounds; one is a table row
            fig = Figure(figsize=(5.5, 3), dpi=100)
            ax = fig.subplots()
            rounds_ = [r["round"] for r in validation]
            ax.plot(rounds_, [r["dice"] for r in validation], "o-", color="k", label="mean")
            for name in names:
                values = [r.get("per_class", {}).get(name, np.nan) for r in validation]
                ax.plot(rounds_, values, "o--", ms=3, lw=1, label=name)
            ax.set_xticks(rounds_)
            ax.set_xlabel("round whose model was scored")
            ax.set_ylabel("Dice on slices annotated after it")
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
            fig.tight_layout()
            fig.savefig(folder / "validation.png")
            figure_html = '<img src="validation.png" alt="validation Dice over rounds">'
        cells = "".join(
            f"<tr><td>{r['round']}</td><td>{r['dice']:.3f}</td>"
            + "".join(
                f"<td>{r['per_class'][n]:.3f}</td>"
                if n in r.get("per_class", {})
                else "<td>-</td>"
                for n in names
            )
            + f"<td>{r['n_slices']}</td></tr>"
            for r in validation
        )
        heads = "".join(f"<th>{html.escape(n)}</th>" for n in names)
        validation_html = (
            "<p>Each round's model scored on the slices annotated after it (it never saw "
            "them): Dice on the network's grid, the mean over the classes present in "
            "those slices, then each class (- where neither the annotation nor the model "
            "has it).</p>"
            f'<table id="validation"><tr><th>model of round</th><th>Dice (mean)</th>{heads}'
            f"<th>slices</th></tr>{cells}</table>{figure_html}"
        )
    rows = "\n".join(
        f'<tr><td>{s["rank"]}</td><td class="name">{_fmt(s["subject"])}</td>'
        f"<td>{'whole' if s['slice'] is None else s['slice']}</td>"
        + "".join(f"<td>{_fmt(s.get(c))}</td>" for c in columns)
        + f'<td><img class="thumb" src="thumbs/row_{row:02d}.png" '
        f'alt="{_fmt(s["subject"])}"></td></tr>'
        for row, s in enumerate(suggestions, start=1)
    )
    explained = "".join(
        f"<dt>{html.escape(c)}</dt><dd>{html.escape(text)}</dd>" for c, text in columns.items()
    )
    if unit == "volume":
        explained += (
            "<dt>(volumes)</dt><dd>a volume's values are its group's (the volume, or "
            "with --group-by the patient's volumes), aggregated over its slices as the "
            "strategy aggregates them</dd>"
        )
    shown = {k: v for k, v in settings.items() if k not in ("profile", "verbose")}
    profile = settings["profile"]
    shown["networks"] = (
        f"segmenter width {profile['segmenter']['width']}, depth "
        f"{profile['segmenter']['depth']}, {profile['segmenter']['max_steps']} steps "
        f"({profile['segmenter']['warm_steps']} fine-tuning, retrain "
        f"{profile['segmenter']['retrain']}); MMD-VAE {profile['vae']['n_latent']} latent "
        f"dimensions, {profile['vae']['max_epochs']} epochs"
    )
    settings_rows = "".join(
        f'<tr><td class="name">{html.escape(k)}</td><td class="name">{_fmt(v)}</td></tr>'
        for k, v in {**shown, "earlier rounds": len(previous_rounds)}.items()
    )
    page = _PAGE.format(
        number=number,
        n=len(suggestions),
        unit=unit,
        described=html.escape(described),
        rows=rows,
        heads="".join(f"<th>{html.escape(c)}</th>" for c in columns),
        legend=_legend(classes),
        explained=explained,
        validation=validation_html,
        settings=settings_rows,
        version=__version__,
        elapsed=elapsed,
    )
    (folder / "report.html").write_text(page)


def _legend(classes: Any) -> str:
    """The class colours of the overlays (tab10, as :func:`_show` draws them), in HTML."""
    from matplotlib.colors import to_hex

    colors = class_colors(len(classes.names))
    items = [
        f'<span class="swatch" style="background:{to_hex(c)}"></span> {html.escape(name)}'
        for c, name in zip(colors, classes.names, strict=True)
    ]
    return ", ".join(items) or "no classes yet"


def _stored(volume: Any, k: int) -> int:
    return stored_slice_index(volume.stored, volume.axis, k)[1]


def save_prelabel(
    volume: Any,
    predicted_slices: np.ndarray,
    path: Path,
    classes: Any,
    only: list[int] | None = None,
) -> Path:
    """The model's label map of a volume, on the image's own grid, with its affine.

    Each class is written as its first label value (``classes.to_values``). ``only``
    (canonical slice indices): the prediction fills those slices alone, the rest is the
    volume's current labels (or zeros), so that saving the corrected file into
    ``labels/`` never turns unchecked predictions into annotations.
    """
    from bsqkit._io import atomic_path

    # (n, H, W), canonical in-plane, as label values
    native = classes.to_values(volume.grid.from_grid(predicted_slices))
    if only is not None:
        kept = volume.label_slices.copy()
        kept[only] = native[only]
        native = kept
    canonical = np.moveaxis(native, 0, volume.axis)
    stored = to_stored_orientation(canonical, volume.stored).astype(np.uint8)
    image = nib.Nifti1Image(stored, volume.stored.affine, header=volume.header)
    image.set_data_dtype(np.uint8)
    with atomic_path(path, suffix=".tmp.nii.gz") as tmp:
        nib.save(image, tmp)
    return path
