"""Experiments, one folder each (installed as ``triad.experiments``); see :mod:`triad.experiment`."""
