"""The JSON API under /api/: one router per resource, assembled here."""

from . import admin
from .base import api

api.add_router("", admin.router)

__all__ = ["api"]
