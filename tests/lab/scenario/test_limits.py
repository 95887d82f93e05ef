"""A scenario cannot ask for what the machine or the API cannot do: alias bombs, absurd
numbers, a mix the API would refuse, and variables other than TASKQ_* are refused."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from lab.scenario.loader import MAX_NODES, ScenarioError, load_scenario
from tests.lab.conftest import run_lab

# Ten lines, 10^9 strings once expanded ("billion laughs").
ALIAS_BOMB = """\
name: bomb
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def errors_of(path: Path, *overrides: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, overrides)
    return caught.value.errors


def test_alias_bomb_is_refused_fast_and_small(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    (error,) = errors_of(path)
    assert time.monotonic() - started < 5
    # ru_maxrss is in KiB: the bomb expanded would take gigabytes.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000
    assert "aliases" in error and str(MAX_NODES) in error, error
    done = run_lab("validate", str(path), timeout=60)
    assert done.returncode == 2 and "aliases" in done.stderr, done.stderr
    listed = run_lab("list", str(tmp_path), timeout=60)
    assert listed.returncode == 0 and "bomb.yaml" in listed.stdout and "invalid" in listed.stdout


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("name: loop\ndescription: &d [*d]\n")
    (error,) = errors_of(path)
    assert "aliases" in error


def test_a_few_aliases_still_work(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "name: ok\nload:\n  mix:\n    - &io {task_type: io, payload: {ms: 5}}\n    - *io\n"
    )
    assert len(load_scenario(path).load.mix) == 2


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("system.concurrency=1e12", "system.concurrency"),
        ("system.workers=1000", "system.workers"),
        ("load.duration_seconds=1e308", "load.duration_seconds"),
        ("load.arrivals={kind: constant, rate_per_second: .inf}", "load.arrivals.rate_per_second"),
        ("load.arrivals={kind: poisson, rate_per_second: .nan}", "load.arrivals.rate_per_second"),
        ("load.clients=100000000", "load.clients"),
        ("report.drain_timeout_seconds=1e308", "report.drain_timeout_seconds"),
    ],
)
def test_absurd_numbers_are_refused(tmp_path: Path, override: str, field: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\n")
    (error,) = errors_of(path, override)
    assert error.startswith(f"{path} (--set): {field}:"), error


def test_arrivals_must_fit_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\n")
    (error,) = errors_of(path, "load.duration_seconds=600000", "load.arrivals.rate_per_second=1e5")
    assert "arrivals" in error, error


def test_an_event_after_the_run_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nload: {duration_seconds: 10}\nreport: {drain_timeout_seconds: 20}\n"
        "events:\n  - {at_seconds: 1e308, action: scale_workers, workers: 1}\n"
        "  - {at_seconds: 31, action: scale_workers, workers: 1}\n"
    )
    errors = errors_of(path)
    assert any(":5: events.0.at_seconds:" in e for e in errors), errors
    path.write_text(path.read_text().replace("1e308", "2"))
    (error,) = errors_of(path)
    assert "events[1] at 31 s is after the run's end at 30 s" in error, error


def test_the_mix_is_judged_by_the_api_model(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nload:\n  mix:\n    - {task_type: echo, max_retries: 5000}\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:4: load.mix.0:") and "max_retries" in error, error
    (error,) = errors_of(path, "load.mix.0.max_retries=1.0e+20")
    assert "load.mix.0.max_retries" in error, error
    (error,) = errors_of(path, "load.mix.0.max_retries=1", "load.mix.0.priority=256")
    assert "the API would refuse it: priority" in error, error
    (error,) = errors_of(path, "load.mix.0.max_retries=1", "load.mix.0.payload=[.nan]")
    assert "payload" in error, error
    (error,) = errors_of(path, "load.mix.0.max_retries=1", "load.mix.0.task_type=''")
    assert "task_type" in error, error
    assert load_scenario(path, ["load.mix.0.max_retries=1000"]).load.mix[0].max_retries == 1000


def test_env_takes_taskq_variables_only(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nsystem:\n  env:\n    PYTHONPATH: /tmp/evil\n    TASKQ_X: '1'\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:3: system.env:") and "PYTHONPATH" in error, error
    path.write_text("name: s\nsystem:\n  env: {TASKQ_QUEUE__LEASE_SECONDS: '3'}\n")
    assert load_scenario(path).system.env == {"TASKQ_QUEUE__LEASE_SECONDS": "3"}


def test_lists_and_module_names_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\n")
    (error,) = errors_of(path, "system.imports=['x; import os']")
    assert error.startswith(f"{path} (--set): system.imports.0:"), error
    events = "[" + ", ".join(["{at_seconds: 1, action: resume}"] * 1001) + "]"
    (error,) = errors_of(path, f"events={events}")
    assert "events" in error and "1000" in error, error
