"""``python -m ml2p``: the ``ml2p`` command line."""

from __future__ import annotations

import sys

from ml2p.cli import main

if __name__ == "__main__":  # pragma: no branch
    sys.exit(main())
