"""docker-compose.yml is valid for docker-compose, scales its workers, and takes secrets
from the environment."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from tests.monitoring.conftest import MONITORING, ROOT, need

pytestmark = pytest.mark.compose
SECRETS = {"GRAFANA_ADMIN_PASSWORD": "from-the-environment", "TASKQ_API_KEYS": "k1"}


def compose(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in SECRETS}
    binary = need("docker-compose", "docker-compose")
    return subprocess.run(
        [binary, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def test_compose_file_is_valid_and_scales_workers() -> None:
    checked = compose("config", "-q", **SECRETS)
    assert checked.returncode == 0, checked.stderr
    config = yaml.safe_load(compose("config", **SECRETS).stdout)
    services = config["services"]
    assert set(services) == {"redis", "toxiproxy", "api", "worker", "prometheus", "grafana"}
    # Scaled replicas must not publish a fixed host port (they would clash).
    assert "ports" not in services["worker"]
    assert services["worker"]["environment"]["TASKQ_WORKER__METRICS_PORT"] == "9100"
    for name in ("api", "worker"):  # both reach Redis only through Toxiproxy
        assert "toxiproxy" in services[name]["environment"]["TASKQ_REDIS_URL"]
    grafana = services["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == SECRETS["GRAFANA_ADMIN_PASSWORD"]
    for service in services.values():  # published only on loopback
        for port in service.get("ports", []):
            # docker-compose 1.x keeps "ip:host:container" strings; v2 gives mappings.
            host_ip = port["host_ip"] if isinstance(port, dict) else port.split(":")[0]
            assert host_ip == "127.0.0.1", port


def test_compose_refuses_to_start_without_the_secrets() -> None:
    missing = compose("config", "-q", TASKQ_API_KEYS="k1")
    assert missing.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in missing.stderr


def test_redis_conf_keeps_every_acknowledged_task() -> None:
    settings = dict(
        line.split(None, 1)
        for line in (MONITORING / "redis.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert settings["appendonly"] == "yes"
    assert settings["appendfsync"] == "always"
    assert settings["maxmemory-policy"] == "noeviction"
