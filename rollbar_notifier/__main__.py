"""``python -m rollbar_notifier``: the same command as ``rollbar-notifier``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
