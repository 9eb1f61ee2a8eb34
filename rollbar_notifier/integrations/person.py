"""``data.person`` from a framework's user: the id always, the rest only when asked.

A username or an email address identifies a person outside the application too, so
they are sent only with ``capture_username`` / ``capture_email``; the id is what links
an error to a user in the application's own records.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from ..config import Config


def person(config: Config, id: Any, username: Any = None,
           email: Any = None) -> Optional[Dict[str, Any]]:
    if id in (None, ""):
        return None
    result: Dict[str, Any] = {"id": str(id)}
    if config.capture_username and username:
        result["username"] = str(username)
    if config.capture_email and email:
        result["email"] = str(email)
    return result
