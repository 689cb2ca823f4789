"""An ML2P example model: ridge regression on scikit-learn's diabetes data set.

The model is registered as the ``ml2p.models`` entry point ``diabetes``
(:class:`ml2p_example_diabetes.model.DiabetesModel`). Importing this package
is cheap: scikit-learn and numpy are imported when a generator, trainer or
predictor first needs them.
"""

from __future__ import annotations

__version__ = "0.7.0"

__all__ = ["__version__"]
