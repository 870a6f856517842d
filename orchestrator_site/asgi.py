"""HTTP goes to Django; websockets go to the event consumers."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from asgiref.sync import sync_to_async  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402


class OneThreadHopASGIHandler(ASGIHandler):
    """Django's ASGI handler, but the (all sync) middleware chain and the (sync) view run together
    in one worker-thread call.

    The stock handler adapts each middleware to async one by one, which for a chain of sync
    middleware and a sync view means a dozen hops between the event loop and the worker thread per
    request; under load that switching cost more CPU than the request itself.
    """

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)
        sync_chain = self._middleware_chain
        self._middleware_chain = sync_to_async(sync_chain, thread_sensitive=True)


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
