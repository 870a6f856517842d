from django.contrib import admin
from django.urls import include, path

from runs.api import api

urlpatterns = [
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("notifications/", include("notifications.urls")),
    path("", include("runs.views.urls")),
]
