"""``python -m triad`` is the ``triad`` command."""

from triad.cli import main

main()
