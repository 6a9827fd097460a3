"""Exceptions of the fstore client: SQL errors carry the SQLSTATE, HTTP errors the server's code."""


class FstoreError(Exception):
    """Base class of every error the client raises."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class SQLError(FstoreError):
    """A PostgreSQL error: `sqlstate` (e.g. '23514'), `detail` and `hint` as the server sent them."""

    def __init__(self, message, sqlstate=None, detail=None, hint=None):
        super().__init__(f"{message} (SQLSTATE {sqlstate})" if sqlstate else message)
        self.sqlstate, self.detail, self.hint = sqlstate, detail, hint

    @classmethod
    def from_psycopg(cls, err):
        """Wraps a psycopg error, keeping its primary message, SQLSTATE, detail and hint."""
        diag = getattr(err, "diag", None)
        primary = (diag.message_primary if diag else None) or str(err).strip()
        return cls(primary, getattr(err, "sqlstate", None),
                   diag.message_detail if diag else None, diag.message_hint if diag else None)


class HTTPError(FstoreError):
    """An fstore-server error answer: HTTP `status` and the JSON error `code` ('not_found', ...)."""

    def __init__(self, message, status, code=None):
        super().__init__(f"HTTP {status} {code}: {message}" if code else f"HTTP {status}: {message}")
        self.status, self.code = status, code
