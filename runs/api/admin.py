"""Health, version, settings and the other small endpoints every client process touches."""

from django.conf import settings
from django.db import connection
from ninja import Router

from orchestrator_site.config import SETTINGS

from .base import detail

router = Router(tags=["Admin"])


@router.get("/health")
def health(request):
    return True


@router.get("/ready")
def ready(request):
    connection.ensure_connection()
    return {"message": "OK"}


@router.get("/hello")
def hello(request):
    return "👋"


@router.get("/version")
def version(request):
    return settings.SERVER_VERSION


@router.get("/admin/version")
def admin_version(request):
    return settings.SERVER_VERSION


@router.get("/admin/settings")
def admin_settings(request):
    """The effective PREFECT_* settings, secrets masked."""
    return {
        key: ("********" if SETTINGS[key].secret and setting.value else setting.value)
        for key, setting in settings.PREFECT.items()
    }


@router.get("/admin/storage")
def read_storage(request):
    return {"default_result_storage_block_id": None}


@router.get("/csrf-token")
def csrf_token(request, client: str | None = None):
    # The client treats this answer as "no CSRF tokens needed" and carries on.
    return detail(request, "CSRF protection is disabled.", 422)
