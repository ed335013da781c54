"""`patchgen eval`: a run's artifact (or any image, `--artifact`) evaluated digitally by its victim's family
(patchgen.detector_evaluation, patchgen.classifier_evaluation), written as results.json, results.md, grid.png and
report.html, all four or none."""

import html
import json
import os
import sys
from contextlib import nullcontext
from pathlib import Path

from dataclasses import dataclass

import cv2

from patchgen import registry, run_dir as run_files
from patchgen.atomic import atomic_save
from patchgen.errors import UserError, require_file, require_folder
from patchgen.evaluation import Evaluation, check_batch
from patchgen.header import describe_goal, print_header
from patchgen.run_dir import REPORT

ARTIFACT_COPY = "artifact.png"  # an --artifact image, copied beside its report


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


def write_report(out_dir, evaluation: Evaluation, meta: dict, extra_images=(), more_files=None, artifact=None,
                 others=(), details="") -> Path:
    """results.json, results.md, grid.png and report.html in out_dir (and more_files: {name: bytes}; the last
    three arguments: report_page's), all or none: each is rendered in memory first, then all are staged beside
    their places before any replaces its old version, so a failure at any point leaves the previous evaluation
    whole."""
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
    files[REPORT] = report_page(evaluation, meta, extra_images, artifact, others, details).encode()
    try:
        write_together([(out_dir / name, data) for name, data in files.items()])
    except OSError as err:
        raise UserError(f"cannot write the evaluation into {out_dir}: {err.strerror or err}") from None
    return out_dir / REPORT


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


def percent(rate: float) -> str:
    return f"{100 * rate:.0f} %"


def summary_sentence(evaluation: Evaluation, meta: dict) -> str:
    """What happened, in one sentence: the goal's success with the artifact and with a random one in its place."""
    victim = Path(str(meta.get("victim", ""))).stem or "the victim"
    goal = str(meta.get("goal")) + (f": {meta['goal_class']}" if meta.get("goal_class") else "")
    goal += f" ({', '.join(meta['target_classes'])})" if meta.get("target_classes") else ""
    kind = meta.get("kind", "artifact")
    adv, noise = (evaluation.table.get(c, {}).get("goal_rate") for c in ("adv", "noise"))
    where = f"against {victim} on {meta.get('images', '?')} images"
    if adv is None or adv != adv:  # no goal measured, or nothing to judge it on (nan)
        return f"The {kind} was evaluated {where}; none of them could be judged for its goal ({goal})."
    random = (f"; a random {kind} of the same size in the same place: {percent(noise)}"
              if noise is not None and noise == noise else "")
    return f"The {kind} reaches its goal, {goal}, in {percent(adv)} of cases {where}{random}."


def artifact_figure(src: str, width: int) -> str:
    """The artifact at least 256 px wide on screen: a small one scaled up by a whole factor, its pixels kept
    square (pixelated) rather than blurred."""
    shown = width * max(1, -(-256 // width)) if width else 256
    return (f'<figure><img src="{html.escape(src)}" alt="the artifact" style="width:{shown}px;max-width:100%;'
            f'image-rendering:pixelated;background:repeating-conic-gradient(#ddd 0 25%,#fff 0 50%) 0 0/16px 16px">'
            f"<figcaption>the artifact ({width} px)</figcaption></figure>")


def report_page(evaluation: Evaluation, meta: dict, extra_images=(), artifact=None, others=(), details="") -> str:
    """The page opens with what happened (one sentence), the artifact large and the table; then the examples and
    plots, the other evaluations of the same run, and the raw record folded away.
    artifact: (src, width in px) or None; others: [(href, name)] of the run's evaluation and score folders;
    details: more HTML for the folded part (the run's config)."""
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
    links = " · ".join(f'<a href="{html.escape(href)}">{html.escape(name)}</a>' if href else f"<b>{name}</b> (this)"
                       for href, name in others)
    links = f"<p>Evaluations and scorings of this run: {links}</p>" if len(others) > 1 else ""
    picture = artifact_figure(*artifact) if artifact else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>patchgen evaluation</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
td,th{{padding:4px 12px;border-bottom:1px solid #ddd}}
.top{{display:flex;gap:2em;align-items:flex-start;flex-wrap:wrap}} .lead{{font-size:1.3em}}</style>
</head><body><h1>patchgen evaluation</h1>
<p class="lead">{html.escape(summary_sentence(evaluation, meta))}</p>
<div class="top">{picture}<div><table><tr>{header}</tr>{rows}</table>
<p>{html.escape(evaluation.note)}</p></div></div>
{grid}{figures}{links}
<details><summary>Details: victim, data, placement and the run's config</summary><ul>{facts}</ul>{details}</details>
</body></html>"""


@dataclass(frozen=True)
class Written:
    """What evaluate_run wrote, and where."""
    folder: Path  # results.json, results.md, grid.png and report.html (RUN/eval, RUN/eval-2, ... or --out)
    evaluation: Evaluation  # .table: condition -> measure -> value, as results.json's "results"; .columns: headings
    meta: dict  # results.json's other keys: victim, goal, data, images, placement, ...


def evaluate_run(run_dir, data=None, labels=None, out=None, batch=8, patch_transform=None, progress=True,
                 artifact=None, config=None, device="auto") -> Written:
    """Evaluate a run directory's artifact with its own victim, goal and placement, on `device` (auto, cpu,
    cuda, cuda:N); writes a new folder each time: RUN/eval, then RUN/eval-2, ... (out: that folder instead, refused
    when it holds an evaluation already).
    artifact: an image file evaluated instead of the run's (then config, a RunConfig, may stand in for the run).
    Every argument is checked before the victim loads; nothing earlier is replaced."""
    from patchgen.config import victim_family
    from patchgen.device import resolve_device
    from patchgen.run_lock import run_lock

    check_batch(batch)
    if config is None:
        run_dir = require_folder(run_dir, "run directory")
        config = run_files.run_config(run_dir)
    if artifact is not None:
        artifact = require_file(artifact, "--artifact image")
    if out is None and run_dir is None:
        raise UserError("--out is required when no run directory is given")
    if out is not None:
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out} is a file, not a folder")
        if (out / "results.json").exists():
            instead = "choose another --out" + (", or leave --out out: each evaluation of a run gets a folder of its "
                                                 "own (RUN/eval, RUN/eval-2, ...)" if run_dir is not None else "")
            raise UserError(f"--out {out} already holds an evaluation (results.json): {instead}")
    device = resolve_device(device)
    folder = Path(os.path.abspath(data or config.data.val or config.data.train))  # said in full: which one was read
    registry.get("family", victim_family(config)).check_folder(folder)
    inside_run = run_dir is not None and (out is None or out.absolute().is_relative_to(Path(run_dir).absolute()))
    with run_lock(run_dir) if inside_run else nullcontext():  # no training (or evaluation) writes the run meanwhile
        out = out or run_files.new_folder(run_dir, run_files.EVAL)  # chosen under the lock: no other takes it
        if progress:
            print_header("eval", device, victim=config.victim, input_size=config.imgsz or "the victim's own",
                         artifact=artifact or Path(run_dir) / run_files.ARTIFACT_PNG, goal=describe_goal(config),
                         data=folder, out=out)
        return _evaluate_into(run_dir, config, folder, out, labels, batch, patch_transform, progress, artifact,
                              device)


def _evaluate_into(run_dir, config, folder, out, labels, batch, patch_transform, progress, artifact_path, device):
    from PIL import Image

    from patchgen.artifacts import artifact_from_image, load_artifact
    from patchgen.placements import placement_for
    from patchgen.victims import load_victim

    artifact = artifact_from_image(artifact_path) if artifact_path else load_artifact(run_dir)
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
            "artifact": str(artifact_path) if artifact_path else "the run's", "kind": config.artifact.kind,
            "device": str(device)}
    if victim.family == "detector":
        meta["target_classes"] = config.target_classes
    extra, more, details = [], {}, ""
    if artifact_path:  # an image from elsewhere: a copy beside the report, which then stands alone
        picture, src = Path(artifact_path), ARTIFACT_COPY
        more[ARTIFACT_COPY] = picture.read_bytes()
    else:  # the run's own: its picture and plots are the run's
        picture = Path(run_dir) / run_files.ARTIFACT_PNG
        src = os.path.relpath(picture, out)
        extra = [(os.path.relpath(Path(run_dir) / name, out), caption) for name, caption in
                 ((run_files.RENDERS_PNG, "the artifact as training saw it"), (run_files.LOSS_PLOT, "training loss"))
                 if (Path(run_dir) / name).exists()]
        more = queries_files(run_files.read_metrics(run_dir))  # a query run: success against the queries spent
        extra += [(name, "goal success against the queries spent") for name in more if name.endswith(".png")]
    if run_dir is not None and (Path(run_dir) / run_files.CONFIG).is_file():
        details = f"<h3>the run's config</h3><pre>{html.escape((Path(run_dir) / run_files.CONFIG).read_text())}</pre>"
    with Image.open(picture) as image:
        width = image.width
    others = []  # the run's other evaluations and scorings, then this one
    if run_dir is not None:
        others = [(os.path.relpath(f / run_files.REPORT, out), f.name) for f in run_files.result_folders(run_dir)
                  if f.absolute() != out.absolute()] + [("", out.name)]
    write_report(out, evaluation, meta, extra, more, (src, width), others, details)
    print(markdown_table(evaluation), file=sys.stderr)
    print(f"eval: {folder}: wrote {out}/{run_files.REPORT}", file=sys.stderr)
    return Written(out, evaluation, meta)
