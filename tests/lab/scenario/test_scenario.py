"""Scenario files: validation errors name the field and the line; overrides; the schema;
every shipped scenario is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.scenario.loader import ScenarioError, load_scenario
from lab.scenario.model import Scenario
from tests.lab.conftest import REPO, run_lab

BAD_FIELDS = """\
name: bad
system:
  workers: -1
load:
  arrivals:
    kind: constant
    rate_per_second: 0
  mix:
    - task_type: io
      wieght: 2
events:
  - at_seconds: 1
    action: explode
"""


def errors_of(path: Path, *overrides: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, overrides)
    return caught.value.errors


def test_invalid_fields_name_the_field_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_FIELDS)
    errors = errors_of(path)
    assert any(e.startswith(f"{path}:3: system.workers:") for e in errors), errors
    assert any(f"{path}:7: load.arrivals.rate_per_second:" in e for e in errors), errors
    assert any(f"{path}:10: load.mix.0.wieght: Extra inputs" in e for e in errors), errors
    assert any(f"{path}:13: events.0:" in e and "explode" in e for e in errors), errors


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nload: [1,\n  2\nfoo: : bar\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:4: invalid YAML")


def test_cli_reports_errors_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_FIELDS)
    done = run_lab("validate", str(path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "system.workers" in done.stderr and ":3:" in done.stderr
    assert all(line.startswith("error: ") for line in done.stderr.splitlines())
    done = run_lab("run", str(path), "--out", str(tmp_path / "results"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()


def test_overrides_are_yaml_typed_and_dotted(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nevents:\n  - {at_seconds: 1, action: scale_workers, workers: 2}\n")
    s = load_scenario(
        path,
        [
            "load.duration_seconds=2.5",
            "system.redis.persistence=none",
            "events.0.workers=4",
            "checks.max_duplicates=null",
        ],
    )
    assert s.load.duration_seconds == 2.5
    assert s.system.redis.persistence == "none"
    assert s.events[0].model_dump()["workers"] == 4
    assert s.checks.max_duplicates is None
    (error,) = errors_of(path, "system.workers=many")
    assert error.startswith(f"{path} (--set): system.workers:")


def test_schema_and_shipped_scenarios() -> None:
    schema = Scenario.model_json_schema()
    assert {"system", "load", "events", "checks"} <= set(schema["properties"])
    files = sorted((REPO / "scenarios").glob("*.yaml"))
    names = {f.stem for f in files}
    assert {
        "quickstart",
        "baseline",
        "high_load",
        "stress",
        "scaling",
        "worker_kill",
        "redis_restart",
    } <= names
    for f in files:
        assert load_scenario(f).name == f.stem
    listed = run_lab("list")
    assert listed.returncode == 0 and "scaling.yaml" in listed.stdout


def test_documented_example_is_a_valid_scenario(tmp_path: Path) -> None:
    reference = (REPO / "docs" / "lab.md").read_text()
    block = reference.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.yaml"
    path.write_text(block)
    scenario = load_scenario(path)
    assert scenario.name == "worker_kill" and len(scenario.events) == 6


def test_prometheus_option_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsystem:\n  prometheus: always\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:3: system.prometheus:") and "'auto'" in error, error
    path.write_text("name: s\nsystem:\n  prometheus: 'on'\n  prometheus_url: http://127.0.0.1:9\n")
    (error,) = errors_of(path)
    assert "system" in error and "prometheus_url" in error, error
    # Unquoted on / off (YAML booleans) mean what they say.
    assert load_scenario(path, ["system.prometheus=off"]).system.prometheus == "off"
    path.write_text("name: s\nsystem:\n  prometheus: on\n")
    assert load_scenario(path).system.prometheus == "on"


def test_backend_is_a_system_field_with_a_docker_block(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsystem:\n  docker:\n    worker_cpus: 0.25\n")
    s = load_scenario(path)
    assert s.system.backend == "local" and s.system.docker.worker_cpus == 0.25
    s = load_scenario(path, ["system.backend=docker", "system.docker.worker_memory_mb=256"])
    assert s.system.backend == "docker" and s.system.docker.worker_memory_mb == 256
    (error,) = errors_of(path, "system.backend=kubernetes")
    assert error.startswith(f"{path} (--set): system.backend:") and "'docker'" in error, error
    path.write_text("name: s\nsystem:\n  docker:\n    worker_cpus: 0\n    worker_cpu: 1\n")
    first, second = errors_of(path)
    assert first.startswith(f"{path}:4: system.docker.worker_cpus:"), first
    assert second.startswith(f"{path}:5: system.docker.worker_cpu:"), second
    # Results written before the field moved into system: `backend: local` at the top.
    path.write_text("name: s\nbackend: local\n")
    assert load_scenario(path).system.backend == "local"
