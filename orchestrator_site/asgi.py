"""HTTP goes to Django; websockets go to the event consumers."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from concurrent.futures import ThreadPoolExecutor  # noqa: E402

from asgiref.sync import sync_to_async  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.db import close_old_connections  # noqa: E402

# Requests one web worker process serves at the same time (the event loop takes any number; these
# threads run the views). More overlap database waits; the GIL caps what they add beyond that.
REQUEST_THREADS = 8


class OneThreadHopASGIHandler(ASGIHandler):
    """Django's ASGI handler, but each request's (all sync) middleware chain and (sync) view run
    together in one call on a long-lived request thread.

    The stock handler adapts each middleware to async one by one, which for a chain of sync
    middleware and a sync view means a dozen hops between the event loop and a worker thread per
    request, and it starts (and joins) a fresh thread for every request, so each request also
    opens a new database connection. Under load that cost more CPU than the request itself. Here
    the threads live as long as the process and keep their connections (see CONN_MAX_AGE), checked
    before and after each request as Django's request signals would.
    """

    request_threads = ThreadPoolExecutor(max_workers=REQUEST_THREADS, thread_name_prefix="request")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)  # no per-request thread (ThreadSensitiveContext)

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)
        sync_chain = self._middleware_chain

        def respond(request):
            close_old_connections()
            try:
                return sync_chain(request)
            finally:
                close_old_connections()

        self._middleware_chain = sync_to_async(respond, thread_sensitive=False, executor=self.request_threads)


django_application = OneThreadHopASGIHandler()

# Import the URL conf (the whole API) now, not inside the first requests: under load, dozens of
# them would otherwise queue on the import lock while the worker is already taking traffic.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from runs.events.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
