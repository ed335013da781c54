"""`patchgen export` (a run's artifact to a print-ready PDF/PNG) and `patchgen calibrate chart | fit | palette`."""

from __future__ import annotations

from pathlib import Path

from patchgen import run_dir as run_files
from patchgen.atomic import atomic_write_json
from patchgen.errors import UserError


def add_commands(subparsers) -> None:
    exp = subparsers.add_parser("export", help="the trained artifact's print files at exact physical size: a patch "
                                               "as PDF (and PNG), a texture as a tile PNG and a sheet PDF, stickers "
                                               "as a PDF with a placement guide")
    exp.add_argument("run", help=f"run directory holding {run_files.ARTIFACT_PNG} and {run_files.SIDECAR}")
    exp.add_argument("--size",
                     help="what it measures depends on the run's artifact: patch: the artifact, its longer side "
                          "(30cm, 300mm, 12in) or both (30x20cm); texture, camouflage: the repeat, one square tile's "
                          "side (10cm); stickers: the object they go on, width x height (60x170cm), each piece "
                          "then its share of the object's diagonal. Default: the size the training implies on the "
                          "target (--target-size); one more than 25 %% away from it is refused (--any-size)")
    exp.add_argument("--target-size", metavar="SIZE",
                     help="the real size of what the artifact was trained against, for the default --size: a "
                          "target's box, one length (its height, e.g. 1.9m; the width in that class's proportion) "
                          "or width x height (0.7x1.9m); for an artifact trained anywhere in the image, what the "
                          f"camera frames, one length (a square) or width x height. Defaults: {default_targets()}")
    exp.add_argument("--any-size", action="store_true",
                     help="print at --size even though the training implies another size")
    exp.add_argument("--dpi", type=int, default=300,
                     help="resolution of the PNGs for print shops (default 300): a patch's sheet, a texture's tile, "
                          "each sticker")
    exp.add_argument("--paper", default="A4", help="A4 (default), A3, A5, A2, Letter, Legal, Tabloid")
    exp.add_argument("--no-tile", action="store_true",
                     help="fail instead of tiling over pages a print larger than the paper (a patch, a texture's "
                          "repeat, a sticker)")
    exp.add_argument("--no-png", action="store_true", help="write the PDF only (and its .json)")
    exp.add_argument("--max-pages", type=int, default=None, metavar="N",
                     help="make a tiled print of up to N pages (default 50); a print that needs more is refused "
                          "with its page count, so a size in the wrong unit does not make thousands of pages")
    exp.add_argument("--out", help=f"output folder (default RUN/{run_files.EXPORT}, the run's own record of its "
                                   f"prints; an export elsewhere leaves RUN/{run_files.SIDECAR} as it is)")
    exp.set_defaults(func=run_export)

    cal = subparsers.add_parser("calibrate", help="measure your printer: chart, colour model, palette")
    actions = cal.add_subparsers(dest="action", required=True)
    chart = actions.add_parser("chart", help="write the calibration chart PDF (and its .json)")
    chart.add_argument("--out", default="calibration_chart.pdf",
                       help="the chart PDF (default calibration_chart.pdf); its patch layout goes beside it as .json")
    chart.add_argument("--paper", default="A4", help="A4 (default), A3, A5, A2, Letter, Legal, Tabloid")
    chart.set_defaults(func=run_chart)

    fit = actions.add_parser("fit", help="fit a colour model from a photo of the printed chart")
    fit.add_argument("photo", help="a photo of the printed chart, all four markers in view")
    fit.add_argument("--chart", help="the chart's .json (default: the built-in chart)")
    fit.add_argument("--out", default="colour_model.json", help=".json or .safetensors (default colour_model.json)")
    fit.set_defaults(func=run_fit)

    pal = actions.add_parser("palette", help="build a printable-colour palette from a photo of the printed chart")
    pal.add_argument("photo", help="a photo of the printed chart, all four markers in view")
    pal.add_argument("--chart", help="the chart's .json (default: the built-in chart)")
    pal.add_argument("--colours", type=int, default=30, help="palette size (default 30)")
    pal.add_argument("--out", default="palette.txt",
                     help="the palette file (default palette.txt): one colour per line, r g b in 0-1")
    pal.set_defaults(func=run_palette)


def default_targets() -> str:
    """The default target sizes, for --help."""
    from printing.physical_scale import CLASSIFIER_VIEW, TARGETS

    return ", ".join(f"{name} {t.shown()}" for name, t in [*TARGETS.items(), ("a classifier's view", CLASSIFIER_VIEW)])


def run_export(args) -> int:
    """Each artifact kind names its exporter in patchgen.registry; all take the same options and say what they
    wrote. The size is the one the run's training implies (printing/physical_scale.py) unless --size says
    otherwise, and this line says which and why."""
    from patchgen import registry
    from patchgen.errors import require_folder
    from printing.export import DEFAULT_MAX_PAGES, check_dpi_and_max_pages
    from printing.physical_scale import print_size
    from printing.physical_size import paper_size_mm

    max_pages = DEFAULT_MAX_PAGES if args.max_pages is None else args.max_pages
    check_dpi_and_max_pages(args.dpi, max_pages)  # the options first, as each exporter checks them
    paper_size_mm(args.paper)
    run = require_folder(args.run, "run directory")
    meta = run_files.read_sidecar(run)
    kind = meta.get("artifact", "patch")
    plugin = registry.PLUGINS["artifact"].get(kind)
    if plugin is None:
        raise UserError(f"{run / run_files.SIDECAR}: artifact kind {kind!r} is not one of "
                        f"{', '.join(registry.PLUGINS['artifact'])}")
    if not plugin.exporter:
        raise UserError(f"{run}: a {kind!r} artifact is a digital attack (changed pixels of the input), nothing to "
                        f"print")
    size, why = print_size(run, meta, args.size, args.target_size, args.any_size)
    print(f"size: {why}")
    export = registry.load(plugin.exporter)
    result = export(run, size, dpi=args.dpi, paper=args.paper, allow_tiling=not args.no_tile, out_dir=args.out,
                    write_png=not args.no_png, max_pages=max_pages, log=print)
    for line in result.summary():
        print(line)
    return 0


def run_chart(args) -> int:
    from printing.chart import chart_sheet, chart_spec
    from printing.pdf_render import render_pdf
    from printing.physical_size import paper_size_mm
    from printing.tiling import plan_pages

    out = Path(args.out)
    if out.suffix.lower() != ".pdf":
        raise UserError(f"--out {out} should end in .pdf")
    paper_mm = paper_size_mm(args.paper)  # an unknown paper is its own error, not "too small"
    spec = chart_spec()
    sheet = chart_sheet(spec)
    try:
        pages = plan_pages(sheet, paper_mm, allow_tiling=False)
    except UserError:
        raise UserError(f"the calibration chart needs one A4 or Letter page; {args.paper} is too small") from None
    render_pdf(sheet, pages, out, title="patchgen calibration chart")
    atomic_write_json(out.with_suffix(".json"), spec)
    print(f"wrote {out} (print at 100% scale, colour management off) and {out.with_suffix('.json')}")
    return 0


def _read_chart_photo(args):
    from printing.chart import load_chart_spec
    from patchgen.image_io import read_image
    from printing.chart_reading import read_chart

    spec = load_chart_spec(args.chart)
    return read_chart(read_image(args.photo), spec, name=str(args.photo))


def run_fit(args) -> int:
    from printing.colour_fit import fit_colour_model

    out = Path(args.out)
    if out.suffix not in (".json", ".safetensors"):
        raise UserError(f"--out {out} should end in .json or .safetensors")
    reading = _read_chart_photo(args)
    ok = reading.reliable
    try:
        report = fit_colour_model(reading.digital[ok], reading.captured[ok], reading.heldout[ok])
    except ValueError as err:
        raise UserError(f"{err} ({int((~ok).sum())} cells unevenly lit: glare or shadow?)") from None
    report.model.info.update({"photo": str(Path(args.photo).resolve()), "markers_found": reading.markers_found,
                              "marker_reprojection_px": round(reading.reprojection_px, 3)})
    report.model.save(out)
    cv = ", ".join(f"{name} {err:.2f}" for name, err in report.cv_de2000.items())
    print(f"markers {reading.markers_found}, reprojection {reading.reprojection_px:.2f} px")
    if not ok.all():
        skipped = [cid for cid, good in zip(reading.cell_ids, ok) if not good]
        print(f"skipped {len(skipped)} unevenly lit cells (glare, shadow or dirt): {' '.join(skipped[:20])}")
    print(f"cross-validated dE2000: {cv}; chose {report.chosen}")
    print(f"held-out cells: mean dE2000 {report.heldout_de2000_mean:.2f}, max {report.heldout_de2000_max:.2f} "
          f"(without a model: {report.identity_heldout_de2000_mean:.2f})")
    print(f"wrote {out}; use it in training with `colour_model: {out}` in the config")
    return 0


def run_palette(args) -> int:
    from printing.palette_from_photo import palette_from_colours, save_palette

    reading = _read_chart_photo(args)
    n = len(reading.captured)
    if not 2 <= args.colours <= n:
        raise UserError(f"--colours must be between 2 and {n} (the chart's cell count)")
    colours = palette_from_colours(reading.captured[reading.reliable], min(args.colours, int(reading.reliable.sum())))
    save_palette(args.out, colours, f"{n} cells of a patchgen calibration chart photographed in "
                                    f"{Path(args.photo).name}, k-means in CIELAB to {args.colours} measured colours")
    print(f"wrote {args.out} ({args.colours} colours measured from {n} chart cells)")
    return 0

