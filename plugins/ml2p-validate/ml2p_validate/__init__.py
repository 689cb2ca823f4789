"""ml2p-validate: reject prediction inputs that do not match the model's JSON Schema.

The hook implementations live in :mod:`ml2p_validate.hooks` (the
``ml2p.plugins`` entry point ``ml2p-validate``); where the schema comes from
is :mod:`ml2p_validate.schemas`, and how failures are reported is
:mod:`ml2p_validate.report`.
"""

from __future__ import annotations

__version__ = "0.7.0"

#: The plugin's name, as errors report it.
PLUGIN_NAME = "ml2p-validate"
