"""Report errors from Python programs to Rollbar or any Rollbar-compatible server."""

import logging

from ._version import __version__
from .config import Config
from .handler import RollbarHandler
from .hooks import install_excepthook, uninstall_excepthook
from .notifier import (
    Notifier,
    close,
    flush,
    get_notifier,
    init,
    report_deploy,
    report_exception,
    report_message,
)

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Config",
    "Notifier",
    "RollbarHandler",
    "__version__",
    "close",
    "flush",
    "get_notifier",
    "init",
    "install_excepthook",
    "report_deploy",
    "report_exception",
    "report_message",
    "uninstall_excepthook",
]
