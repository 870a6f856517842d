"""PREFECT_SERVER_API_AUTH_STRING: when it is set, every /api/ request must carry it as HTTP Basic
auth (what the client sends when PREFECT_API_AUTH_STRING is set). Health probes stay open."""

import base64
import binascii
import hmac

from django.conf import settings
from django.http import JsonResponse

OPEN_PATHS = {"/api/health", "/api/ready"}


def presented_auth_string(header: str) -> str | None:
    scheme, _, credentials = header.partition(" ")
    if scheme != "Basic" or not credentials:
        return None
    try:
        return base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


class ApiAuthMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        expected = settings.PREFECT["PREFECT_SERVER_API_AUTH_STRING"].value
        if expected and request.path.startswith("/api/") and not self.is_open(request):
            presented = presented_auth_string(request.headers.get("Authorization", ""))
            if presented is None or not hmac.compare_digest(presented.encode(), expected.encode()):
                return JsonResponse({"detail": "Unauthorized"}, status=401)
        return self.get_response(request)

    @staticmethod
    def is_open(request) -> bool:
        return request.method == "GET" and request.path in OPEN_PATHS
