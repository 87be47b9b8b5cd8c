"""One place that turns the admin API's known failures into clear 4xx/502 answers instead of a 500."""

from __future__ import annotations

from fastapi import HTTPException
from pydantic import ValidationError

from shared.accounts.importers import ImportFormatError
from shared.accounts.store import MalformedAccountError
from shared.crypto import SecretDecryptError
from shared.errors import UpstreamError

KNOWN = (ImportFormatError, MalformedAccountError, SecretDecryptError, ValidationError, UpstreamError)


def as_http(exc: Exception) -> HTTPException:
    """The answer to one of the `KNOWN` failures."""
    if isinstance(exc, MalformedAccountError):
        return HTTPException(409, f"a stored account record is malformed: {exc}")
    if isinstance(exc, SecretDecryptError):
        return HTTPException(409, f"{exc}; was KIRO_SECRET_KEY changed?")
    if isinstance(exc, ValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        return HTTPException(422, problems)
    if isinstance(exc, UpstreamError):
        return HTTPException(502, f"the Kiro / AWS sign-in service failed: {exc.message}")
    return HTTPException(400, str(exc))
