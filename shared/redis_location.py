"""Where Redis is: one server, a Sentinel-watched primary, or a Cluster, read from the settings.

URL forms (`REDIS_URL`, `QUEUE_REDIS_URL`):

    redis://[[user]:password@]host:port/db             one server (rediss:// for TLS)
    redis+sentinel://[[user]:password@]host:port[,host:port…]/service[/db]
    redis+cluster://[[user]:password@]host:port[,host:port…]

`rediss+sentinel://` and `rediss+cluster://` speak TLS to the data nodes (and to the sentinels). The
password belongs to the data nodes; sentinels are asked without one. Errors are `ConfigError`s that
name the setting and never carry the password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import unquote, urlsplit

from shared.errors import ConfigError

SENTINEL_PORT = 26379
REDIS_PORT = 6379


class Topology(Enum):
    STANDALONE = "standalone"
    SENTINEL = "sentinel"
    CLUSTER = "cluster"


@dataclass(frozen=True)
class RedisLocation:
    """A parsed Redis address; `url` is the plain URL of a standalone server (redis-py parses it)."""

    topology: Topology
    url: str = ""
    nodes: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False

    def describe(self) -> str:
        """For logs and errors: where, never the password."""
        if self.topology is Topology.STANDALONE:
            return redact(self.url)
        hosts = ",".join(f"{host}:{port}" for host, port in self.nodes)
        if self.topology is Topology.SENTINEL:
            return f"sentinel {hosts} service {self.service} db {self.db}"
        return f"cluster {hosts}"


_SCHEMES = {
    "redis": (Topology.STANDALONE, False),
    "rediss": (Topology.STANDALONE, True),
    "unix": (Topology.STANDALONE, False),
    "redis+sentinel": (Topology.SENTINEL, False),
    "rediss+sentinel": (Topology.SENTINEL, True),
    "redis+cluster": (Topology.CLUSTER, False),
    "rediss+cluster": (Topology.CLUSTER, True),
}


def redact(url: str) -> str:
    """`url` with its password (whatever sits between `:` and `@` of the authority) replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "<not a URL>"
    authority, slash, path = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    return f"{scheme}://{userinfo}{at}{hosts}{slash}{path}"


def parse_redis_url(url: str, setting: str = "REDIS_URL") -> RedisLocation:
    """The location a URL names; `ConfigError` (naming `setting`, password hidden) when malformed."""
    scheme, sep, _ = url.partition("://")
    known = _SCHEMES.get(scheme.lower()) if sep else None
    if known is None:
        forms = "redis://, rediss://, redis+sentinel://, redis+cluster://"
        raise ConfigError(f"{setting} must start with one of {forms} (got {redact(url)})")
    topology, tls = known
    if topology is Topology.STANDALONE:
        return _standalone(url, setting, tls)
    parts = urlsplit(url)
    username, password = _credentials(parts.netloc)
    default_port = SENTINEL_PORT if topology is Topology.SENTINEL else REDIS_PORT
    nodes = parse_nodes(parts.netloc.rpartition("@")[2], setting, url, default_port)
    path = [p for p in parts.path.split("/") if p]
    if topology is Topology.CLUSTER:
        if path and path != ["0"]:
            raise ConfigError(f"{setting}: a Redis Cluster has database 0 only (got {redact(url)})")
        return RedisLocation(topology, nodes=nodes, username=username, password=password, tls=tls)
    if not path or len(path) > 2:
        raise ConfigError(
            f"{setting}: a Sentinel URL ends in /service_name or /service_name/db (got {redact(url)})"
        )
    db = _db(path[1] if len(path) == 2 else "0", setting, url)
    return RedisLocation(
        topology, nodes=nodes, service=unquote(path[0]), db=db, username=username, password=password, tls=tls
    )


def parse_nodes(text: str, setting: str, url: str, default_port: int) -> tuple[tuple[str, int], ...]:
    """`host:port,host:port…` as pairs; a missing port is `default_port`."""
    nodes: list[tuple[str, int]] = []
    for item in (part.strip() for part in text.split(",")):
        if item.startswith("["):  # [IPv6]:port
            host, _, rest = item[1:].partition("]")
            port = rest.removeprefix(":") if rest else str(default_port)
        else:
            host, colon, port = item.partition(":")
            port = port if colon else str(default_port)
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{setting}: {item!r} is not host:port (in {redact(url)})")
        nodes.append((host, int(port)))
    return tuple(nodes)


def _standalone(url: str, setting: str, tls: bool) -> RedisLocation:
    parts = urlsplit(url)
    db = 0
    if parts.scheme != "unix":
        if not parts.hostname or "," in parts.netloc:
            raise ConfigError(
                f"{setting}: one host:port for a single server; several hosts need redis+sentinel:// "
                f"or redis+cluster:// (got {redact(url)})"
            )
        try:
            parts.port  # noqa: B018 - parsing it is the check
        except ValueError:
            raise ConfigError(f"{setting}: the port is not a number (got {redact(url)})") from None
        db = _db(parts.path.strip("/") or "0", setting, url)
    username, password = _credentials(parts.netloc)
    return RedisLocation(Topology.STANDALONE, url=url, db=db, username=username, password=password, tls=tls)


def _credentials(netloc: str) -> tuple[str | None, str | None]:
    userinfo, at, _ = netloc.rpartition("@")
    if not at:
        return None, None
    user, colon, password = userinfo.partition(":")
    return (unquote(user) or None), (unquote(password) if colon else None)


def _db(text: str, setting: str, url: str) -> int:
    if not text.isdigit():
        raise ConfigError(f"{setting}: the database must be a number (got {redact(url)})")
    return int(text)
