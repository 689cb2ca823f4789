"""ML2P: a minimal Python framework for running models on AWS SageMaker.

``import ml2p`` is cheap: it loads neither boto3 nor any entry point. Plugins
import :data:`hookimpl` from here::

    from ml2p import hookimpl

    @hookimpl(wrapper=True)
    def ml2p_result(predictor, data):
        result = yield
        return result
"""

from __future__ import annotations

from ml2p.hookspecs import hookimpl

__version__ = "0.7.0"

__all__ = ["__version__", "hookimpl"]
