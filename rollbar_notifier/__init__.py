"""Report errors from Python programs to Rollbar or any Rollbar-compatible server."""

import logging

from ._version import __version__
from .config import Config
from .deploy import DeployError
from .handler import RollbarHandler
from .hooks import install_asyncio_handler, install_excepthook, uninstall_excepthook
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
    "DeployError",
    "Notifier",
    "RollbarHandler",
    "__version__",
    "close",
    "flush",
    "get_notifier",
    "init",
    "install_asyncio_handler",
    "install_excepthook",
    "report_deploy",
    "report_exception",
    "report_message",
    "uninstall_excepthook",
]
