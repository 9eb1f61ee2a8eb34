"""Settings of the example project: only what it needs, and the two Rollbar entries."""

SECRET_KEY = "example-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"
INSTALLED_APPS: list = []
DATABASES: dict = {}
USE_TZ = True

MIDDLEWARE = [
    "rollbar_notifier.integrations.django.RollbarMiddleware",
]
ROLLBAR = {
    # access_token and endpoint come from ROLLBAR_ACCESS_TOKEN and ROLLBAR_ENDPOINT
    "environment": "example",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"level": "INFO", "handlers": ["console"]},
}
