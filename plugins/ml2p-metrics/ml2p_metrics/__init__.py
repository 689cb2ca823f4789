"""ml2p-metrics: CloudWatch Embedded Metric Format lines for ML2P.

The hook implementations live in :mod:`ml2p_metrics.hooks` (the
``ml2p.plugins`` entry point ``ml2p-metrics``); the EMF documents are built
by :mod:`ml2p_metrics.emf` and written by :mod:`ml2p_metrics.sink`.
"""

from __future__ import annotations

__version__ = "0.7.0"

#: The plugin's name, as errors report it.
PLUGIN_NAME = "ml2p-metrics"
