"""`patchgen eval`: a run's artifact (or any image, `--artifact`) evaluated digitally by its victim's family
(patchgen.detector_evaluation, patchgen.classifier_evaluation), written as results.json, results.md, grid.png and
report.html, all four or none."""

import html
import json
import os
import sys
from contextlib import nullcontext
from pathlib import Path

import cv2

from patchgen import registry, run_dir as run_files
from patchgen.atomic import atomic_save
from patchgen.errors import UserError, require_file, require_folder
from patchgen.evaluation import Evaluation, check_batch


def shown(value) -> str:
    """A table cell: a rate to three decimals, a count as the whole number it is."""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown_table(evaluation: Evaluation, title: str = "") -> str:
    columns = [k for k in evaluation.columns if any(k in row for row in evaluation.table.values())]
    lines = [f"### {title}", ""] if title else []
    lines += ["| condition | " + " | ".join(evaluation.columns[k] for k in columns) + " |",
              "|---" * (len(columns) + 1) + "|"]
    for condition, row in evaluation.table.items():
        cells = [shown(row[k]) if k in row else "–" for k in columns]
        lines.append(f"| {condition.upper()} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(out_dir, evaluation: Evaluation, meta: dict, extra_images=(), more_files=None) -> Path:
    """results.json, results.md, grid.png and report.html in out_dir (and more_files: {name: bytes}), all or
    none: each is rendered in memory first, then all are staged beside their places before any replaces its old
    version, so a failure at any point leaves the previous evaluation whole."""
    out_dir = Path(out_dir)
    results = json.dumps({**meta, "results": evaluation.table}, indent=2) + "\n"
    md = markdown_table(evaluation, f"{meta.get('victim', '')} on {meta.get('data', '')}")
    files = {"results.json": results.encode(), "results.md": md.encode()}
    if evaluation.grid is not None:
        ok, grid = cv2.imencode(".png", evaluation.grid[:, :, ::-1])
        if not ok:
            raise RuntimeError("OpenCV could not encode the example grid as PNG")
        files["grid.png"] = grid.tobytes()
    files.update(more_files or {})
    files["report.html"] = report_page(evaluation, meta, extra_images).encode()
    try:
        write_together([(out_dir / name, data) for name, data in files.items()])
    except OSError as err:
        raise UserError(f"cannot write the evaluation into {out_dir}: {err.strerror or err}") from None
    return out_dir / "report.html"


def queries_files(metrics: list[dict]) -> dict:
    """A query run's success against queries: queries.json (per logged step: step, queries, success) and
    queries.png; nothing for a white-box run."""
    from patchgen.plots import success_against_queries

    rows = [{k: m[k] for k in ("step", "queries", "success")} for m in metrics if "success" in m]
    if not rows:
        return {}
    return {"queries.json": (json.dumps({"rows": rows}, indent=2) + "\n").encode(),
            "queries.png": success_against_queries(metrics)}


def write_together(files) -> None:
    """[(path, bytes)]: each written to a temporary file beside its path, and only once all are written are
    they moved into place (atomic_save nested: the outer replace waits on every inner write)."""
    if not files:
        return
    (path, data), *rest = files

    def write(tmp):
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        write_together(rest)

    atomic_save(path, write)


def report_page(evaluation: Evaluation, meta: dict, extra_images=()) -> str:
    columns = [k for k in evaluation.columns if any(k in row for row in evaluation.table.values())]
    header = "".join(f"<th>{html.escape(h)}</th>" for h in ("condition", *(evaluation.columns[k] for k in columns)))
    rows = "".join(f"<tr><td>{c.upper()}</td>" + "".join(f"<td>{shown(r[k])}</td>" if k in r else "<td>–</td>"
                                                         for k in columns) + "</tr>"
                   for c, r in evaluation.table.items())
    facts = "".join(f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>" for k, v in meta.items())
    figures = "".join(f'<figure><img src="{html.escape(src)}" style="max-width:100%"><figcaption>'
                      f"{html.escape(caption)}</figcaption></figure>" for src, caption in extra_images)
    grid = ('<figure><img src="grid.png" style="max-width:100%"><figcaption>Examples: CLEAN, NOISE and ADV side by '
            "side, with what the victim saw</figcaption></figure>") if evaluation.grid is not None else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>patchgen evaluation</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
td,th{{padding:4px 12px;border-bottom:1px solid #ddd}}</style>
</head><body><h1>patchgen evaluation</h1><ul>{facts}</ul>
<table><tr>{header}</tr>{rows}</table>
<p>{html.escape(evaluation.note)}</p>
{figures}{grid}</body></html>"""


def evaluate_run(run_dir, data=None, labels=None, out=None, batch=8, patch_transform=None, progress=True,
                 artifact=None, config=None):
    """Evaluate a run directory's artifact with its own victim, goal and placement; writes out (RUN/eval).
    artifact: an image file evaluated instead of the run's (then config, a RunConfig, may stand in for the run).
    Every argument is checked before the victim loads; the results replace the old ones only when complete."""
    from patchgen.run_lock import run_lock
    from patchgen.config import victim_family

    check_batch(batch)
    if config is None:
        run_dir = require_folder(run_dir, "run directory")
        config = run_files.run_config(run_dir)
    if artifact is not None:
        artifact = require_file(artifact, "--artifact image")
    if out is None and run_dir is None:
        raise UserError("--out is required when no run directory is given")
    out = Path(out) if out else Path(run_dir) / run_files.EVAL
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    folder = Path(os.path.abspath(data or config.data.val or config.data.train))  # said in full: which one was read
    registry.get("family", victim_family(config)).check_folder(folder)
    inside_run = run_dir is not None and out.absolute().is_relative_to(Path(run_dir).absolute())
    with run_lock(run_dir) if inside_run else nullcontext():  # RUN/eval: no training writes the run meanwhile
        return _evaluate_into(run_dir, config, folder, out, labels, batch, patch_transform, progress, artifact)


def _evaluate_into(run_dir, config, folder, out, labels, batch, patch_transform, progress, artifact_path):
    from patchgen.artifacts import artifact_from_image, load_artifact
    from patchgen.placements import placement_for
    from patchgen.train import resolve_device
    from patchgen.victims import load_victim

    artifact = artifact_from_image(artifact_path) if artifact_path else load_artifact(run_dir)
    device = resolve_device(config.train.device)
    victim = load_victim(config.victim, device, config.imgsz or None, config.adapter)
    goal_plugin = registry.entry("goal", config.goal, "goal")
    goal = registry.get("goal", config.goal)(victim, config)
    family = registry.get("family", victim.family)
    scenes, report = family.load_data(config, folder, victim, goal_plugin, labels=labels,
                                      training=False)
    artifact = artifact.to(device)
    placement = placement_for(config, artifact)
    evaluation = family.evaluate(victim, scenes.to(device), artifact, config, goal, placement, batch=batch,
                                 patch_transform=patch_transform, progress=progress)
    meta = {"victim": config.victim, "family": victim.family, "goal": config.goal, "goal_class": config.goal_class,
            "data": str(folder), **report.to_dict(), "imgsz": victim.imgsz, "placement": placement.describe(),
            "artifact": str(artifact_path) if artifact_path else "the run's"}
    if victim.family == "detector":
        meta["target_classes"] = config.target_classes
    extra = []
    if run_dir is not None and out == Path(run_dir) / run_files.EVAL and not artifact_path:
        extra = [(str(Path("..") / name), caption) for name, caption in
                 ((run_files.ARTIFACT_PNG, "the artifact"), (run_files.LOSS_PLOT, "training loss"))
                 if (Path(run_dir) / name).exists()]
    more = {}
    if extra:  # the run's own artifact, evaluated into RUN/eval: a query run also shows success against queries
        more = queries_files(run_files.read_metrics(run_dir))
        extra += [(name, "goal success against the queries spent") for name in more if name.endswith(".png")]
    write_report(out, evaluation, meta, extra, more)
    print(markdown_table(evaluation), file=sys.stderr)
    print(f"eval: {folder}: wrote {out}/report.html", file=sys.stderr)
    return evaluation

