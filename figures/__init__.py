"""Figure scripts, one per figure (installed as ``triad.figures``).

Each module defines ``plot(results_dir, out_dir) -> list[Path]``, reads only cached results
(``results/<experiment>/results.csv``) and can be run as ``python -m triad.figures.<name>``.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")


def save(fig, out_dir: Path, name: str) -> list[Path]:
    """Write ``fig`` to ``out_dir/name.png`` atomically (no half-written file) and close it."""
    import matplotlib.pyplot as plt

    from triad.experiment import atomic_write

    path = atomic_write(Path(out_dir) / f"{name}.png", lambda fh: fig.savefig(fh, format="png", dpi=120), mode="wb")
    plt.close(fig)
    return [path]
