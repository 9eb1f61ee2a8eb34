"""A minimal Django project whose errors are reported with their request.

    cd examples/django_project
    ROLLBAR_ACCESS_TOKEN=<post_server_item token> python manage.py runserver
    curl 'http://127.0.0.1:8000/orders/7/?expand=lines'

The set-up is two entries in ``shop/settings.py``: the middleware, first in
``MIDDLEWARE``, and the ``ROLLBAR`` options.
"""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
