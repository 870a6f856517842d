from django.urls import path

from .consumers import EventsInConsumer, EventsOutConsumer

websocket_urlpatterns: list = [
    path("api/events/in", EventsInConsumer.as_asgi()),
    path("api/events/out", EventsOutConsumer.as_asgi()),
]
