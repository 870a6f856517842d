"""Errors the domain raises; the API maps each to one HTTP status."""


class DomainError(Exception):
    pass


class NotFound(DomainError):
    """-> 404"""


class AlreadyExists(DomainError):
    """-> 409"""


class Conflict(DomainError):
    """-> 409"""


class InvalidInput(DomainError):
    """-> 422. `field_errors` ({field: message}) lets a form show each message next to its field."""

    def __init__(self, *args, field_errors: dict[str, str] | None = None):
        super().__init__(*args)
        self.field_errors = field_errors or {}
