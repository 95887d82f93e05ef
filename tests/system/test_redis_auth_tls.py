"""A Redis URL may carry an ACL user and password, and ``rediss://`` means TLS: a real
worker and client run a task through each kind of secured server."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from system.client import Client
from system.redis_server import RedisServer, free_port
from system.supervisor import TaskqProcess

from .conftest import wait_until_finished

USER, PASSWORD = "taskq-app", "s3cret-for-tests"


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is needed to make the TLS test's certificate")
        pytest.skip("openssl not on PATH")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(params=["acl", "tls"])
def redis_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Overrides the shared fixture: a private server reachable only the secured way."""
    work = tmp_path_factory.mktemp(request.param)
    if request.param == "acl":
        with RedisServer(work / "data") as server, redis.Redis(port=server.port) as admin:
            admin.acl_setuser(
                USER,
                enabled=True,
                passwords=[f"+{PASSWORD}"],
                keys=["*"],
                channels=["*"],
                commands=["+@all"],
            )
            admin.acl_setuser("default", enabled=False)  # no anonymous access any more
            yield f"redis://{USER}:{PASSWORD}@127.0.0.1:{server.port}/0"
        return
    cert, key = _self_signed_certificate(work)
    tls_port = free_port()
    tls_args = [
        "--tls-port",
        str(tls_port),
        "--tls-cert-file",
        str(cert),
        "--tls-key-file",
        str(key),
        "--tls-ca-cert-file",
        str(cert),
        "--tls-auth-clients",
        "no",
    ]
    try:
        server = RedisServer(work / "data", extra_args=tls_args).start()
    except RuntimeError as e:  # a server built without TLS refuses --tls-port
        if os.environ.get("CI"):
            raise
        pytest.skip(f"this Redis has no TLS support: {e}")
    with server:
        yield f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}"


def test_worker_and_client_run_a_task_through_a_secured_redis(
    redis_url: str, queue_name: str, start_worker: Callable[..., TaskqProcess]
) -> None:
    plain = redis_url.partition("?")[0].replace("rediss:", "redis:")
    insecure = plain.replace(f"{USER}:{PASSWORD}@", "")
    with pytest.raises(redis.ConnectionError), Client(insecure) as client:
        client.stats(queue_name)  # no password, or plain text to the TLS port: refused
    with Client(redis_url) as client:
        start_worker("-Q", queue_name)
        task = client.submit("echo", {"n": 1}, queue=queue_name)
        [record] = wait_until_finished(client, [task.id])
    assert (record.state.value, record.result) == ("succeeded", {"n": 1})
