"""Report errors from Python programs to Rollbar or any Rollbar-compatible server."""

import logging

from ._version import __version__
from .config import Config

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["Config", "__version__"]
