"""Writing reports of model operations as files people open: an EvalReport as an .xlsx workbook
(openpyxl) and a pruning sensitivity analysis as a chart (matplotlib PNG).

Workbook sheets: "Summary" (model, dataset, split, images, options, then one row per headline metric),
"Per class" (class, support, one column per metric) and "Confusion matrix" (true classes down, predicted
across, with the labels in the first row and column).
"""

from __future__ import annotations

from pathlib import Path

from raysight.model_ops import EvalReport, Sensitivity

SUMMARY, PER_CLASS, CONFUSION = "Summary", "Per class", "Confusion matrix"


def write_eval_xlsx(report: EvalReport, path: Path) -> Path:
    """Write `report` to `path` (.xlsx) and return it."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    bold = Font(bold=True)
    book = Workbook()
    summary = book.active
    summary.title = SUMMARY
    rows: list[tuple[str, object]] = [
        ("model_id", report.model_id), ("task", report.task), ("dataset_id", report.dataset_id),
        ("version", report.version), ("split", report.split), ("images", report.n_images),
        ("weights", report.weights), ("seconds", report.seconds),
        *((f"option {k}", v) for k, v in sorted(report.options.items())),
    ]
    summary.append(["field", "value"])
    for row in rows:
        summary.append(list(row))
    summary.append([])
    summary.append(["metric", "value"])
    for name, value in report.metrics.items():
        summary.append([name, float(value)])
    for cell in (*summary[1], *summary[len(rows) + 3]):
        cell.font = bold
    summary.column_dimensions["A"].width = 22
    summary.column_dimensions["B"].width = 40

    per_class = book.create_sheet(PER_CLASS)
    columns = list(dict.fromkeys(k for row in report.per_class for k in row.values))
    per_class.append(["class", "support", *columns])
    for row in report.per_class:
        per_class.append([row.name, int(row.support), *(float(row.values.get(c, 0.0)) for c in columns)])
    for cell in per_class[1]:
        cell.font = bold

    confusion = book.create_sheet(CONFUSION)
    confusion.append(["true \\ predicted", *report.confusion_labels])
    for label, counts in zip(report.confusion_labels, report.confusion, strict=False):
        confusion.append([label, *(int(v) for v in counts)])
    for cell in confusion[1]:
        cell.font = bold
    for row in confusion.iter_rows(min_row=2, max_col=1):
        row[0].font = bold
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def write_sensitivity_chart(found: Sensitivity, path: Path) -> Path:
    """One line per layer group: metric lost (y) against the pruning ratio (x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for group in found.groups:
        values = found.loss.get(group, {})
        ax.plot(found.ratios, [values.get(f"{r:g}", float("nan")) for r in found.ratios], marker="o", label=group)
    ax.set_xlabel("pruning ratio")
    ax.set_ylabel(f"{found.metric} lost (baseline {found.baseline:.3f})")
    ax.set_title("Pruning sensitivity (no fine-tuning)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
