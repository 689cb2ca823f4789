"""``python -m ml2p``: the ``ml2p`` command line."""

import sys

from ml2p.cli import main

if __name__ == "__main__":  # pragma: no branch
    sys.exit(main())
