"""Small type checks that turn a wrong shape into an InvalidRequestError naming the field."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from shared.errors import InvalidRequestError

IMAGE_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/jpg", "image/gif", "image/webp"})


def bad(param: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"{param}: {message}", param=param)


def want_object(value: object, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(param, f"expected an object, got {type_name(value)}")
    return value


def want_list(value: object, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise bad(param, f"expected an array, got {type_name(value)}")
    return value


def want_str(value: object, param: str) -> str:
    if not isinstance(value, str):
        raise bad(param, f"expected a string, got {type_name(value)}")
    return value


def opt_str(value: object, param: str) -> str | None:
    return None if value is None else want_str(value, param)


def opt_bool(value: object, param: str, default: bool = False) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad(param, f"expected a boolean, got {type_name(value)}")
    return value


def opt_int(value: object, param: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise bad(param, f"expected an integer, got {type_name(value)}")
    return int(value)


def type_name(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def check_image(media_type: str, data: str, param: str) -> None:
    """Reject what Kiro cannot take: unknown image types and data that is not base64."""
    if media_type.lower() not in IMAGE_MEDIA_TYPES:
        raise bad(param, f"unsupported image type {media_type!r} (png, jpeg, gif, webp)")
    try:
        base64.b64decode(data[:4096].ljust(4 * ((min(len(data), 4096) + 3) // 4), "="), validate=True)
    except (binascii.Error, ValueError):
        raise bad(param, "image data is not valid base64") from None
