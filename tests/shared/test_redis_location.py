"""REDIS_URL forms: one server, Sentinel, Cluster; the node-list settings; start-up errors hide passwords."""

from __future__ import annotations

import pytest

from shared.errors import ConfigError
from shared.redis_location import Topology, parse_redis_url, redact
from shared.settings import CommonSettings


def _settings(**values: str) -> CommonSettings:
    return CommonSettings(_env_file=None, **values)  # type: ignore[arg-type]


def test_a_plain_url_is_one_server_and_rediss_means_tls() -> None:
    plain = parse_redis_url("redis://:pw@cache:6380/2")
    secure = parse_redis_url("rediss://user:pw@cache:6380/0")
    assert (plain.topology, plain.db, plain.password, plain.tls) == (Topology.STANDALONE, 2, "pw", False)
    assert (secure.username, secure.tls) == ("user", True)


def test_a_sentinel_url_names_every_sentinel_the_service_and_the_database() -> None:
    location = parse_redis_url("redis+sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2,[::1]:26380/kiro/3")
    assert location.topology is Topology.SENTINEL
    assert location.nodes == (("10.0.0.1", 26379), ("10.0.0.2", 26379), ("::1", 26380))
    assert (location.service, location.db, location.password) == ("kiro", 3, "s@cret")
    assert parse_redis_url("redis+sentinel://h:1/kiro").db == 0
    assert parse_redis_url("rediss+sentinel://h:1/kiro").tls


def test_a_cluster_url_lists_its_seed_nodes() -> None:
    location = parse_redis_url("redis+cluster://:pw@n1:7000,n2:7001,n3")
    assert location.topology is Topology.CLUSTER
    assert location.nodes == (("n1", 7000), ("n2", 7001), ("n3", 6379))


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://:hunter2@h:6379/0", "must start with one of"),
        ("redis://:hunter2@h:port/0", "port is not a number"),
        ("redis://:hunter2@h1:6379,h2:6379/0", "redis+sentinel:// or redis+cluster://"),
        ("redis://:hunter2@h:6379/zero", "database must be a number"),
        ("redis+sentinel://:hunter2@h:26379", "/service_name"),
        ("redis+sentinel://:hunter2@h:26379/svc/0/extra", "/service_name"),
        ("redis+sentinel://:hunter2@h:x/svc", "is not host:port"),
        ("redis+cluster://:hunter2@h:7000/3", "database 0 only"),
        ("hunter2", "must start with one of"),
    ],
)
def test_a_malformed_url_stops_the_start_with_a_reason_and_never_the_password(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(redis_url=url).check()
    assert says in str(caught.value)
    assert "REDIS_URL" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_redact_hides_the_password_and_keeps_the_rest() -> None:
    assert redact("redis://user:p@ss:w@h:1/0") == "redis://user:***@h:1/0"
    assert redact("redis+sentinel://:pw@a:1,b:2/svc") == "redis+sentinel://:***@a:1,b:2/svc"
    assert redact("redis://h:1/0") == "redis://h:1/0"


def test_sentinel_settings_take_the_nodes_and_keep_password_and_database_of_the_url() -> None:
    settings = _settings(
        redis_url="redis://:pw@ignored:6379/4", redis_sentinels="s1:26379,s2", redis_sentinel_service="kiro"
    )
    location = settings.redis_location()
    assert location.topology is Topology.SENTINEL
    assert location.nodes == (("s1", 26379), ("s2", 26379))
    assert (location.service, location.db, location.password) == ("kiro", 4, "pw")


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"redis_sentinels": "s1:26379"}, "REDIS_SENTINEL_SERVICE"),
        ({"redis_sentinel_service": "kiro"}, "needs REDIS_SENTINELS"),
        ({"redis_sentinels": "s1", "redis_sentinel_service": "k", "redis_cluster_nodes": "n1"}, "not both"),
        (
            {"redis_url": "redis+cluster://n1:7000", "redis_sentinels": "s1", "redis_sentinel_service": "k"},
            "must then be a redis://",
        ),
        ({"redis_url": "redis://h:6379/1", "redis_cluster_nodes": "n1:7000"}, "database 0 only"),
    ],
)
def test_contradicting_topology_settings_stop_the_start(values: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        _settings(**values).check()


def test_the_job_queue_needs_its_own_redis_when_the_main_one_is_a_cluster() -> None:
    with pytest.raises(ConfigError, match="QUEUE_REDIS_URL"):
        _settings(redis_url="redis+cluster://n1:7000").check()
    with pytest.raises(ConfigError, match="arq cannot use a Redis Cluster"):
        _settings(redis_url="redis+cluster://n1:7000", queue_redis_url="redis+cluster://n2:7000").check()
    settings = _settings(redis_url="redis+cluster://n1:7000", queue_redis_url="redis+sentinel://s1/q/1")
    settings.check()
    assert settings.queue_redis_location().topology is Topology.SENTINEL
    assert _settings(redis_url="redis://h:1/0").queue_redis_location().url == "redis://h:1/0"
