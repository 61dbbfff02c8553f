"""Figure scripts, one per figure (installed as ``triad.figures``).

Each module defines ``plot(results_dir, out_dir) -> list[Path]``, reads only cached results
(``results/<experiment>/results.csv``) and can be run as ``python -m triad.figures.<name>``.
"""

import contextlib
import contextvars
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

_FORMATS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("triad_figure_formats", default=("png",))


@contextlib.contextmanager
def formats(*names: str) -> Iterator[None]:
    """Within the block, :func:`save` writes each figure once per format, e.g. ``formats("pdf", "png")``
    for the paper (vector PDF) and the README (PNG). Outside any block it writes PNG only."""
    token = _FORMATS.set(tuple(names))
    try:
        yield
    finally:
        _FORMATS.reset(token)


def log1p_steps(ax, last: float) -> None:
    """An x axis of steps 0 … ``last`` on the smooth scale log(1 + step): 0 stays visible and,
    unlike symlog, there is no kink where a linear part meets a logarithmic one. Ticks 0, 1, 3, 10, 30, …"""
    import numpy as np

    ax.set_xscale("function", functions=(np.log1p, np.expm1))
    ticks = [0] + [m * 10**k for k in range(1 + int(np.log10(max(last, 1)))) for m in (1, 3) if m * 10**k <= last]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlim(0, max(last, 1))


def save(fig, out_dir: Path, name: str) -> list[Path]:
    """Write ``fig`` to ``out_dir/name.png`` (or one file per format of :func:`formats`) atomically
    (no half-written file) and close it."""
    import matplotlib.pyplot as plt

    from triad.experiment import atomic_write

    with matplotlib.rc_context({"pdf.fonttype": 42}):  # TrueType in PDFs, not Type 3 (journals refuse those)
        paths = [atomic_write(Path(out_dir) / f"{name}.{fmt}",
                              lambda fh, fmt=fmt: fig.savefig(fh, format=fmt, dpi=120), mode="wb")
                 for fmt in _FORMATS.get()]
    plt.close(fig)
    return paths
