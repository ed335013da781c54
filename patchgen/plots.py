"""Plots people would rather look at than read: the loss curve and detection grids (PNG, written atomically)."""

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
