"""The exception family: each invocation failure carries the errorType it is reported as."""

from __future__ import annotations


class LwaError(Exception):
    """Base of every error lwa raises on purpose."""


class ConfigError(LwaError):
    """A variable holds a value lwa cannot use; the message names the variable and the value."""

    def __init__(self, variable: str, value: str, why: str) -> None:
        super().__init__(f"{variable}={value!r}: {why}")
        self.variable = variable
        self.value = value


class RuntimeApiError(LwaError):
    """The Runtime or Extensions API answered badly or not at all."""

    def __init__(self, endpoint: str, status: int | None, body: bytes | str = b"") -> None:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        where = f"status {status}" if status is not None else "no answer"
        super().__init__(f"{endpoint}: {where} {text[:500]}".rstrip())
        self.endpoint = endpoint
        self.status = status
        self.body = text


class InvocationError(LwaError):
    """Fails one invocation; `error_type` is the wire string posted as errorType
    (docs/behaviour.md, decision "errors")."""

    error_type = "InvocationError"

    def summary(self) -> str:
        """What the log line says: the message, unless it may carry the app's data."""
        return str(self)


class InvalidEventError(InvocationError):
    error_type = "InvalidEvent"


class AppConnectionError(InvocationError):
    error_type = "AppConnectionError"


class AppTimeoutError(InvocationError):
    error_type = "AppTimeout"


class AppResponseTruncatedError(InvocationError):
    error_type = "AppResponseTruncated"


class AppResponseInvalidError(InvocationError):
    """The app's answer is not valid HTTP/1.1 (a malformed head, ambiguous framing, an
    unrequested 101): refused at once, and that connection is never reused."""

    error_type = "AppResponseInvalid"


class HttpStatusError(InvocationError):
    """The app answered a status listed in AWS_LWA_ERROR_STATUS_CODES (docs/behaviour.md §6.2)."""

    error_type = "HttpStatusError"

    def __init__(self, message: str, status: int, body_size: int) -> None:
        super().__init__(message)
        self.status = status
        self.body_size = body_size

    def summary(self) -> str:
        # The posted error keeps the body, as upstream; the log never does (it may be personal data).
        return f"the app answered {self.status} with a {self.body_size}-byte body (AWS_LWA_ERROR_STATUS_CODES)"


class ResponseTooLargeError(InvocationError):
    error_type = "ResponseTooLarge"
