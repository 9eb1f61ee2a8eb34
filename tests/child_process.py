"""What a child Python process of a test needs to report to the test's server.

Not in ``conftest``: with several ``conftest.py`` files in the tree, ``import conftest``
finds whichever was loaded last.
"""

from __future__ import annotations

import os
from typing import Dict

TOKEN = "child-token-0123456789abcdef"


def environment(endpoint: str, **extra: str) -> Dict[str, str]:
    """This process's environment, reporting to ``endpoint`` with :data:`TOKEN` and
    without excepthooks unless ``extra`` says otherwise."""
    environ = dict(os.environ, ROLLBAR_ACCESS_TOKEN=TOKEN, ROLLBAR_ENDPOINT=endpoint,
                   ROLLBAR_INSTALL_HOOKS="0")
    environ.update(extra)
    return environ
