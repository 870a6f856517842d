"""The NinjaAPI instance, its JSON renderer and the error shapes the Prefect client expects."""

import functools
import logging
from datetime import timedelta
from decimal import Decimal

import orjson
from django.db import DataError, IntegrityError, OperationalError
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


logger = logging.getLogger(__name__)


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
    if exc.field_errors:
        return api.create_response(request, {"detail": str(exc), "field_errors": exc.field_errors}, status=422)
    return detail(request, str(exc), 422)


@api.exception_handler(DataError)
def data_error(request, exc):
    # A value the database cannot store (a NUL character in text, a number out of range...).
    return detail(request, f"Invalid value: {str(exc).splitlines()[0]}", 422)


@api.exception_handler(IntegrityError)
def integrity_error(request, exc):
    return detail(request, "The request conflicts with existing data.", 409)


@api.exception_handler(OperationalError)
def database_unavailable(request, exc):
    # The database refused or dropped us (too many clients, locked, restarting): the client
    # retries 503 answers after Retry-After, so a passing overload costs a delay, not a failure.
    logger.warning("Database unavailable for %s %s: %s", request.method, request.path, exc)
    response = detail(request, "The database is temporarily unavailable; retry shortly.", 503)
    response["Retry-After"] = "1"
    return response


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


def json_response(data, status: int = 200) -> HttpResponse:
    """Answer with data already in wire shape. Hot endpoints build plain dicts themselves: the
    declared response schema still documents them, but per-object validation would cost ~1 ms a row."""
    return HttpResponse(dumps(data), status=status, content_type="application/json")


MINIMUM_API_VERSION = (0, 8, 0)


def api_version_problem(header: str | None) -> str | None:
    """Why an X-PREFECT-API-VERSION header is refused (as the reference words it), or None. No header
    means the current version."""
    if not header:
        return None
    try:
        major, minor, patch = (int(part) for part in header.split("."))
    except ValueError:
        return f"Invalid X-PREFECT-API-VERSION header format.Expected header in format 'x.y.z' but received {header}"
    if (major, minor, patch) < MINIMUM_API_VERSION:
        minimum = ".".join(map(str, MINIMUM_API_VERSION))
        return f"The request specified API version {header} but this server requires version {minimum} or higher."
    return None


def check_api_version(run):
    """Every operation refuses a malformed or too old client API version with 400, before its body is read."""

    @functools.wraps(run)
    def checked(request, *args, **kwargs):
        problem = api_version_problem(request.headers.get("X-Prefect-Api-Version"))
        if problem:
            return detail(request, problem, 400)
        return run(request, *args, **kwargs)

    return checked


api.add_decorator(check_api_version, mode="view")
