"""`python -m rollbar_notifier.devserver`: the `serve` command on its own."""

from .command import main

raise SystemExit(main())
