"""Plots people would rather look at than read: the loss curve, a query run's success against its queries, and the
labels drawn on grid tiles and photos (PNG, written atomically)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from patchgen.atomic import atomic_save  # noqa: E402


def plot_loss_curve(metrics: list[dict], path) -> None:
    steps = [m["step"] for m in metrics]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, [m["loss"] for m in metrics], label="total")
    ax.plot(steps, [m["adversarial"] for m in metrics], label="adversarial (max target confidence)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def success_against_queries(metrics: list[dict]) -> bytes:
    """PNG bytes: a query run's goal success on each logged step's batch against the queries spent by then."""
    import io

    rows = [m for m in metrics if "success" in m and "queries" in m]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot([m["queries"] for m in rows], [m["success"] for m in rows], marker=".")
    ax.set_xlabel("queries spent")
    ax.set_ylabel("goal success (training batch)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def annotator(tile):
    """Ultralytics' Annotator, drawing in place on an RGB uint8 tile (colours RGB too), with lines and label text
    sized to the tile: text about 4.5 % of its height (15 px at least), readable once a grid of such tiles is
    shrunk to a page's width. box_label(box, text, colour) draws a box with its label on a filled bar."""
    from ultralytics.utils.plotting import Annotator

    return Annotator(tile, line_width=max(2, round(tile.shape[0] / 160)))


def title(tile, text: str, colour=(255, 255, 255)) -> None:
    """text at the tile's top-left, on a dark bar, at the annotator's size (CLEAN / NOISE / ADV, a verdict)."""
    import cv2

    drawer = annotator(tile)
    (width, height), base = cv2.getTextSize(text, 0, fontScale=drawer.sf, thickness=drawer.tf)
    pad = drawer.lw
    cv2.rectangle(tile, (0, 0), (width + 2 * pad, height + base + 2 * pad), (0, 0, 0), -1)
    cv2.putText(tile, text, (pad, pad + height), 0, drawer.sf, colour, drawer.tf, cv2.LINE_AA)
