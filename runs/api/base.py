"""The NinjaAPI instance, its JSON renderer and the error shapes the Prefect client expects."""

from datetime import timedelta
from decimal import Decimal

import orjson
from django.db import DataError, IntegrityError
from django.http import HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.renderers import BaseRenderer

from runs.domain.errors import AlreadyExists, Conflict, InvalidInput, NotFound


def encode_extra(value):
    """What orjson cannot encode by itself: durations go out as seconds, sets as lists."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(data) -> bytes:
    return orjson.dumps(data, default=encode_extra, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)


class ORJSONRenderer(BaseRenderer):
    media_type = "application/json"

    def render(self, request, data, *, response_status):
        return dumps(data)


class ORJSONParser(Parser):
    """JSON bodies via orjson; an empty body reads as {} so a bare POST gets the defaults."""

    def parse_body(self, request):
        return orjson.loads(request.body) if request.body.strip() else {}


api = NinjaAPI(
    parser=ORJSONParser(),
    title="Orchestrator API",
    version="0.8.4",
    description="A self-hosted server speaking the Prefect 3 REST API.",
    renderer=ORJSONRenderer(),
    docs_url="/docs",
    openapi_url="/openapi.json",
    urls_namespace="api",
)


def detail(request, message, status):
    return api.create_response(request, {"detail": message}, status=status)


@api.exception_handler(ValidationError)
def validation_error(request, exc):
    return detail(request, exc.errors, 422)


@api.exception_handler(NotFound)
def not_found(request, exc):
    return detail(request, str(exc), 404)


@api.exception_handler(AlreadyExists)
def already_exists(request, exc):
    return detail(request, str(exc), 409)


@api.exception_handler(Conflict)
def conflict(request, exc):
    return detail(request, str(exc), 409)


@api.exception_handler(InvalidInput)
def invalid_input(request, exc):
    return detail(request, str(exc), 422)


@api.exception_handler(DataError)
def data_error(request, exc):
    # A value the database cannot store (a NUL character in text, a number out of range...).
    return detail(request, f"Invalid value: {str(exc).splitlines()[0]}", 422)


@api.exception_handler(IntegrityError)
def integrity_error(request, exc):
    return detail(request, "The request conflicts with existing data.", 409)


@api.exception_handler(OverflowError)
def overflow_error(request, exc):
    return detail(request, f"Value out of range: {exc}", 422)


@api.exception_handler(HttpError)
def http_error(request, exc):
    return detail(request, str(exc), exc.status_code)


@api.exception_handler(AuthenticationError)
def auth_error(request, exc):
    return detail(request, "Unauthorized", 401)


def no_content() -> HttpResponse:
    return HttpResponse(status=204)
