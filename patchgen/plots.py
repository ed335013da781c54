"""Plots people would rather look at than read: the loss curve, a query run's success against its queries and
detection grids (PNG, written atomically)."""

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
