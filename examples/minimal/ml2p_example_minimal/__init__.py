"""A dependency-free ML2P example model: a straight line fitted by least squares.

Registered as the ``ml2p.models`` entry point ``minimal``
(:class:`ml2p_example_minimal.model.MinimalModel`). It needs nothing but
ML2P, so tests that only need *a* model install and run in seconds.
"""

from __future__ import annotations

__version__ = "0.7.0"

__all__ = ["__version__"]
