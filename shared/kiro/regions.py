"""AWS region names: the only values allowed into a Kiro or AWS host name.

A region is formatted into host templates (`https://q.{region}.amazonaws.com`). A value such as
`x@127.0.0.1:8443/#` would turn the host into userinfo and send tokens to another address, so every
region is checked against `REGION` wherever it comes from: imports, the admin API, the CLI, settings,
stored records, profile ARNs, and finally the URL builder itself.
"""

from __future__ import annotations

import re

from shared.errors import InvalidRequestError

#: us-east-1, eu-central-1, us-gov-west-1, ap-southeast-3, ...
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


class InvalidRegionError(InvalidRequestError, ValueError):
    """A region (or the region inside a profile ARN) is not an AWS region name.

    An `InvalidRequestError` (400 in the client's shape at the gateway) and a `ValueError` (a skipped
    import entry, a malformed stored record, a 422 from the admin API's validators).
    """


def is_region(value: str) -> bool:
    """True for an AWS region name like `us-east-1`."""
    return bool(REGION.fullmatch(value))


def check_region(value: str, what: str = "region") -> str:
    """`value` when it is an AWS region name, else InvalidRegionError naming `what` (value clipped)."""
    if not is_region(value):
        raise InvalidRegionError(f"{what} {value[:40]!r} is not an AWS region (like us-east-1)", param=what)
    return value


def profile_arn_region(profile_arn: str) -> str | None:
    """The region field of `arn:aws:codewhisperer:{region}:{account}:profile/{id}` (None when the ARN has
    none); InvalidRegionError when that field is not an AWS region."""
    parts = profile_arn.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[3]:
        return check_region(parts[3], "profile ARN region")
    return None
