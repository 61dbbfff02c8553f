"""Errors raised for bad user input.

Every error a user can cause (a malformed MDP, a bad spec string, an unknown experiment) is a
:class:`TriadError`. The CLI prints such errors as one line on stderr and exits with status 2;
anything else is a bug in triad and keeps its traceback.
"""


class TriadError(Exception):
    """Base class of errors caused by user input rather than by a bug."""


class ValidationError(TriadError, ValueError):
    """An input array or parameter is malformed; the message names what and where."""


class SpecError(TriadError, ValueError):
    """A spec string (``garnet:S=100,A=4``), experiment name or option value is invalid."""


class SolverError(TriadError, RuntimeError):
    """A numerical solver could not reach the requested accuracy."""
