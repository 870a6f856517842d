from django.urls import path

app_name = "notifications"

urlpatterns: list = []  # the notifications pages (notifications/views.py)
