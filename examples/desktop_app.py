"""A desktop application reporting with a ``post_client_item`` token.

That token is the one safe to ship inside an application users can take apart: it
can only post items whose platform is client-side (``platform`` defaults to
``client`` with it) and cannot record deploys or read anything back.

    ROLLBAR_ACCESS_TOKEN=<post_client_item token> python examples/desktop_app.py
"""

import os
import uuid

import rollbar_notifier
from rollbar_notifier.deploy import DeployError

APP_VERSION = "1.4.2"
CLIENT_TOKEN = os.environ.get("ROLLBAR_ACCESS_TOKEN", "<your post_client_item token>")
INSTALL_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, "example-install"))


def open_document(path: str) -> str:
    with open(path, encoding="utf-8") as document:
        return document.read()


def on_open_clicked(path: str) -> None:
    try:
        open_document(path)
    except OSError:
        item = rollbar_notifier.report_exception(level="warning", extra={"path": path},
                                                 person={"id": INSTALL_ID})
        print(f"Could not open {path}. Error report {item} was sent.")


def main() -> None:
    rollbar_notifier.init(access_token=CLIENT_TOKEN, token_scope="post_client_item",
                          code_version=APP_VERSION, environment="production")
    on_open_clicked("no-such-document.txt")
    try:
        rollbar_notifier.report_deploy(APP_VERSION)
    except DeployError as exc:
        print(f"As expected, no deploys from the app: {exc}")
    rollbar_notifier.flush(timeout=5)


if __name__ == "__main__":
    main()
