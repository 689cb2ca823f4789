"""Turn exceptions into one-line ``ml2p`` errors that say what to do."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ml2p.errors import ML2PError

__all__ = ["CommandError", "http_error_message", "translate"]

_NOT_FOUND_CODES = {
    "ResourceNotFound",
    "ResourceNotFoundException",
    "NoSuchKey",
    "NotFound",
    "404",
    "ValidationError",
    "ValidationException",
}
_NOT_FOUND_WORDS = (
    "could not find",
    "does not exist",
    "not found",
    "cannot find",
    "recordnotfound",
)
#: At most this many characters of a server's error details are shown.
MAX_DETAILS_CHARS = 500

_CREDENTIAL_HINT = (
    "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure`"
)


class CommandError(click.ClickException):
    """An error shown as one line, ``Error: <message>``, ending the command with ``exit_code``.

    :param str message: What went wrong and, where it helps, what to do.
    :param int exit_code: The exit status (default 1; 2 for a usage error).
    """

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def _resource(ctx: click.Context | None) -> Any:
    obj = ctx.find_root().obj if ctx is not None else None
    return getattr(obj, "resource", None)


def _cfg_path(ctx: click.Context | None) -> str:
    obj = ctx.find_root().obj if ctx is not None else None
    return getattr(obj, "cfg_path", "ml2p.yml")


def _client_error(exc: Any, ctx: click.Context | None) -> str:
    error = exc.response.get("Error", {}) if hasattr(exc, "response") else {}
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", "") or exc)
    operation = getattr(exc, "operation_name", "the AWS request")
    if code == "NoSuchBucket":
        bucket = error.get("BucketName") or "the project bucket"
        return (
            f"S3 bucket {bucket!r} does not exist: run `ml2p init` to create it, "
            f"or fix s3folder in {_cfg_path(ctx)}"
        )
    if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
        return f"the AWS credentials have expired: refresh them ({_CREDENTIAL_HINT})"
    if code in (
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
    ):
        return f"AWS rejected the credentials ({code}): {_CREDENTIAL_HINT}"
    if code in ("AccessDenied", "AccessDeniedException", "403"):
        return (
            f"AWS denied {operation} ({code}): {message or 'access denied'}; "
            "check the permissions of your credentials"
        )
    resource = _resource(ctx)
    lowered = message.lower()
    not_found = code in _NOT_FOUND_CODES and (
        code not in ("ValidationError", "ValidationException")
        or any(word in lowered for word in _NOT_FOUND_WORDS)
    )
    if not_found and resource is not None:
        kind, name = resource
        return f"no such {kind} {name!r} ({message or code})"
    return f"AWS {operation} failed ({code}): {message}"


def _botocore_message(exc: BaseException, ctx: click.Context | None) -> str | None:
    if "botocore" not in sys.modules:
        return None
    from botocore import exceptions as bex

    if isinstance(exc, bex.NoCredentialsError):
        return f"no AWS credentials found: {_CREDENTIAL_HINT}"
    if isinstance(exc, bex.PartialCredentialsError):
        return f"incomplete AWS credentials ({exc}): {_CREDENTIAL_HINT}"
    if isinstance(exc, bex.NoRegionError):
        return "no AWS region configured: set AWS_DEFAULT_REGION or a region in your AWS profile"
    if isinstance(exc, bex.ProfileNotFound):
        return f"{exc}: fix AWS_PROFILE or add the profile to ~/.aws/config"
    if isinstance(exc, bex.ClientError):
        return _client_error(exc, ctx)
    if isinstance(exc, bex.EndpointConnectionError):
        return f"{exc}: check your network connection and AWS_ENDPOINT_URL"
    if isinstance(exc, bex.BotoCoreError):
        return f"AWS error: {exc}"
    return None


def translate(exc: BaseException, ctx: click.Context | None = None) -> click.ClickException:
    """Return the one-line :class:`click.ClickException` that reports ``exc``.

    :class:`ml2p.errors.ML2PError` keeps its message; AWS errors are
    explained (missing credentials, missing bucket, missing resource);
    anything else is reported with its type and a hint to use ``--debug``.
    """
    if isinstance(exc, click.ClickException):
        return exc
    if "boto3" in sys.modules:
        from boto3.exceptions import S3UploadFailedError

        if isinstance(exc, S3UploadFailedError):
            cause = exc.__context__
            text = _botocore_message(cause, ctx) if cause is not None else None
            return CommandError(text or f"S3 upload failed: {exc}")
    message = _botocore_message(exc, ctx)
    if message is None:
        if isinstance(exc, ML2PError):
            message = str(exc)
        elif isinstance(exc, OSError) and exc.filename is not None:
            message = f"{exc.strerror or exc}: {exc.filename}"
        else:
            message = f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)"
    return CommandError(" ".join(str(message).split()))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def http_error_message(url: str, status: int, body: bytes) -> str:
    """Return the one-line report of an HTTP error answer from an ML2P server.

    A JSON error body ``{"message": ..., **details}`` gives its message,
    then its other non-empty fields (``details``, ``error``, ``plugin``...)
    in brackets, cut to :data:`MAX_DETAILS_CHARS`; any other body is shown
    as text. A 500 adds that the traceback is in the server's log.
    """
    text = body.decode("utf-8", errors="replace")
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and "message" in data:
        message = str(data["message"])
        extras = "; ".join(
            f"{key}: {value if isinstance(value, str) else json.dumps(value)}"
            for key, value in data.items()
            if key != "message" and value not in (None, "", [], {})
        )
        if extras:
            message += f" ({_shorten(extras, MAX_DETAILS_CHARS)})"
    else:
        message = _shorten(text.strip(), MAX_DETAILS_CHARS) or "(empty body)"
    if status == 500:
        message += "; the server's log has the traceback"
    return " ".join(f"{url} answered {status}: {message}".split())
