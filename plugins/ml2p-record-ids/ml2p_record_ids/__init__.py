"""ml2p-record-ids: add input fields (a customer id, say) to invocation record ids.

The hook implementations live in :mod:`ml2p_record_ids.hooks` (the
``ml2p.plugins`` entry point ``ml2p-record-ids``); reading the configuration
and the values is :mod:`ml2p_record_ids.fields`.
"""

from __future__ import annotations

__version__ = "0.7.0"

#: The plugin's name, as errors report it.
PLUGIN_NAME = "ml2p-record-ids"
