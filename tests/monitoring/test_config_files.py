"""The monitoring files pass Prometheus's own checks, and the pieces name each other
consistently (job names, datasource uid, dashboard uids)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from lab.backends.prometheus_server import (
    API_JOB,
    WORKER_JOB,
    render_prometheus_config,
    write_targets,
)
from tests.monitoring.conftest import MONITORING, need

pytestmark = pytest.mark.prometheus
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))


def promtool(*args: str) -> str:
    done = subprocess.run(
        [need("promtool", "prometheus"), *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_checks_the_compose_config_and_the_rules() -> None:
    promtool("check", "config", str(MONITORING / "prometheus.yml"))
    promtool("check", "rules", *map(str, sorted((MONITORING / "rules").glob("*.yml"))))


def test_promtool_unit_tests_of_the_alerts() -> None:
    out = promtool("test", "rules", *map(str, sorted((MONITORING / "tests").glob("*.yml"))))
    assert "SUCCESS" in out


def test_the_rendered_config_passes_promtool_and_matches_the_compose_one(tmp_path: Path) -> None:
    workers = tmp_path / "workers.json"
    write_targets(workers, ["127.0.0.1:9101", "127.0.0.1:9102"])
    config = tmp_path / "prometheus.yml"
    config.write_text(render_prometheus_config(["127.0.0.1:8000"], workers))
    promtool("check", "config", str(config))
    rendered = yaml.safe_load(config.read_text())
    compose = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    jobs = [c["job_name"] for c in compose["scrape_configs"]]
    assert jobs == [c["job_name"] for c in rendered["scrape_configs"]] == [API_JOB, WORKER_JOB]
    assert [Path(r).name for r in rendered["rule_files"]] == ["*.yml"]
    assert compose["rule_files"] == ["rules/*.yml"]
    with pytest.raises(ValueError, match="loopback"):
        render_prometheus_config(["10.0.0.1:8000"], workers)


def test_the_rendered_config_names_files_by_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prometheus reads a relative path from its config file's folder: a run written under
    a relative results folder (``lab run`` by default) must still be found."""
    monkeypatch.chdir(tmp_path)
    rendered = yaml.safe_load(
        render_prometheus_config(["127.0.0.1:8000"], Path("results/run/prometheus/w.json"))
    )
    (files,) = [c["file_sd_configs"][0]["files"] for c in rendered["scrape_configs"][1:]]
    assert files == [str(tmp_path / "results/run/prometheus/w.json")]
    assert all(Path(r).is_absolute() for r in rendered["rule_files"])


def test_dashboards_have_stable_uids_and_use_the_provisioned_datasource() -> None:
    datasources = yaml.safe_load(
        (MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    uid = datasources["datasources"][0]["uid"]
    dashboards = [json.loads(p.read_text()) for p in DASHBOARDS]
    assert {d["uid"] for d in dashboards} == {"taskq-overview", "taskq-queue"}
    for d in dashboards:
        for panel in d["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] == uid, (d["uid"], panel["title"])
    (queue,) = [d for d in dashboards if d["uid"] == "taskq-queue"]
    assert [v["name"] for v in queue["templating"]["list"]] == ["queue"]
