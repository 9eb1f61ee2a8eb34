"""A script whose uncaught exceptions, in the main thread or any other, become items.

``init()`` installs the hooks. The program still prints its tracebacks and exits with
status 1 as it would without them; the main thread's item is flushed before it dies.

    ROLLBAR_ACCESS_TOKEN=<post_server_item token> python examples/uncaught_exceptions.py
"""

import threading

import rollbar_notifier

rollbar_notifier.init(environment="production")  # installs the excepthooks


def resize_images() -> None:
    raise OSError("thumbnail directory is read-only")  # reported at level "error"


def main() -> None:
    worker = threading.Thread(target=resize_images, name="image-worker")
    worker.start()
    worker.join()
    settings = {"retries": 3}
    print("timeout is", settings["timeout"])  # KeyError: reported at level "critical"


if __name__ == "__main__":
    main()
