"""Figure scripts, one per figure (installed as ``triad.figures``).

Each module defines ``plot(results_dir, out_dir) -> list[Path]``, reads only cached results
(``results/<experiment>/results.csv``) and can be run as ``python -m triad.figures.<name>``.
"""

import matplotlib

matplotlib.use("Agg")
