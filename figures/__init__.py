"""Figure scripts, one per figure (installed as ``triad.figures``).

Each module defines ``plot(results_dir, out_dir) -> list[Path]``, reads only cached results
(``results/<experiment>/results.csv``) and can be run as ``python -m triad.figures.<name>``.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")


def log1p_steps(ax, last: float) -> None:
    """An x axis of steps 0 … ``last`` on the smooth scale log(1 + step): 0 stays visible and,
    unlike symlog, there is no kink where a linear part meets a logarithmic one. Ticks 0, 1, 3, 10, 30, …"""
    import numpy as np

    ax.set_xscale("function", functions=(np.log1p, np.expm1))
    ticks = [0] + [m * 10**k for k in range(1 + int(np.log10(max(last, 1)))) for m in (1, 3) if m * 10**k <= last]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlim(0, max(last, 1))


def save(fig, out_dir: Path, name: str) -> list[Path]:
    """Write ``fig`` to ``out_dir/name.png`` atomically (no half-written file) and close it."""
    import matplotlib.pyplot as plt

    from triad.experiment import atomic_write

    path = atomic_write(Path(out_dir) / f"{name}.png", lambda fh: fig.savefig(fh, format="png", dpi=120), mode="wb")
    plt.close(fig)
    return [path]
