"""Django settings. Everything an operator sets comes from PREFECT_* settings (see config.py)."""

import os
from pathlib import Path

from . import config, forking

BASE_DIR = Path(__file__).resolve().parent.parent
PREFECT = config.load_settings()
PREFECT_HOME = config.prefect_home({"PREFECT_HOME": PREFECT["PREFECT_HOME"].value})

SERVER_VERSION = "3.8.8"  # the Prefect API release whose wire contract we speak
API_VERSION = "0.8.4"

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "orchestrator-local-only-not-secret")
DEBUG = config.as_bool(os.environ.get("DJANGO_DEBUG", "false"))
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "django_q",
    "runs",
    "notifications",
    "dbadmin",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "orchestrator_site.api_auth.ApiAuthMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "orchestrator_site.urls"
APPEND_SLASH = False  # the client's paths are exact; a redirect would turn its POSTs into GETs

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ASGI_APPLICATION = "orchestrator_site.asgi.application"

DATABASES = {"default": config.database_config(PREFECT)}
forking.register()  # django-q2 forks its workers: each must open its own connections
if DATABASES["default"]["ENGINE"].endswith("sqlite3") and "memory" not in DATABASES["default"]["NAME"]:
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024  # log batches can be large

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = False

STATIC_URL = "/static/"
STATIC_ROOT = PREFECT_HOME / "static"  # collected files; WhiteNoise serves from the finders too
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

Q_CLUSTER = {
    "name": "orchestrator",
    "orm": "default",
    "workers": 2,
    "timeout": 60,
    "retry": 120,
    "max_attempts": 3,
    "catch_up": False,
    "poll": 1,
    "log_level": PREFECT["PREFECT_SERVER_LOGGING_LEVEL"].value,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": PREFECT["PREFECT_SERVER_LOGGING_LEVEL"].value},
    "loggers": {
        "django.db.backends": {
            "level": "DEBUG" if config.as_bool(PREFECT["PREFECT_API_DATABASE_ECHO"].value) else "WARNING",
            "handlers": ["console"],
            "propagate": False,
        },
    },
}

# Limits that keep a single request from exhausting the server.
API_DEFAULT_LIMIT = 200
API_MAX_LIMIT = 200
LOGS_MAX_BATCH = 10_000
