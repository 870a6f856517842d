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
    """-> 422"""
