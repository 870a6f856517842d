from django.urls import path

from .consumers import EventsInConsumer, EventsOutConsumer
from .task_worker_channel import TaskWorkerChannelConsumer
from .worker_channel import WorkerChannelConsumer

websocket_urlpatterns: list = [
    path("api/events/in", EventsInConsumer.as_asgi()),
    path("api/events/out", EventsOutConsumer.as_asgi()),
    path("api/work_pools/<str:work_pool_name>/workers/connect", WorkerChannelConsumer.as_asgi()),
    path("api/task_runs/subscriptions/scheduled", TaskWorkerChannelConsumer.as_asgi()),
]
