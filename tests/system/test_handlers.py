"""The built-in handlers: registration, results, and refusal of bad payloads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import system.handlers  # noqa: F401  (registers the built-ins)
from system.handlers.builtin import FlakyError
from system.registry import REGISTRY, InvalidPayload
from system.worker.context import TaskContext
from system.worker.executor import Executor

BUILTINS = {
    "matrix_multiply": "process",
    "sleep": "async",
    "cpu": "process",
    "io": "async",
    "flaky": "async",
    "echo": "async",
}


@pytest.fixture(scope="module")
def executor() -> Iterator[Executor]:
    ex = Executor(REGISTRY, max_threads=2, max_processes=1)
    yield ex
    ex.close()


def run(executor: Executor, task_type: str, payload: Any) -> Any:
    ctx = TaskContext(task_id="t1", queue="q", task_type=task_type, attempt=1)
    coro = executor.run(REGISTRY[task_type], payload, ctx=ctx, timeout_seconds=60)
    return asyncio.run(coro)


def test_builtins_are_registered_on_import() -> None:
    for name, mode in BUILTINS.items():
        spec = REGISTRY[name]
        assert spec.mode == mode, name
        assert spec.description, name
        assert (spec.payload_model is None) == (name == "echo"), name
    assert REGISTRY.payload_schema("matrix_multiply")["properties"]["size"]["maximum"] == 2000


def test_matrix_multiply_matches_numpy(executor: Executor) -> None:
    result = run(executor, "matrix_multiply", {"size": 5, "seed": 42})
    rng = np.random.default_rng(42)
    a, b = rng.random((5, 5)), rng.random((5, 5))
    expected = a @ b
    assert result["size"] == 5
    assert result["checksum"] == pytest.approx(float(expected.sum()))
    assert result["trace"] == pytest.approx(float(np.trace(expected)))
    assert np.allclose(result["product"], expected)
    assert result["seconds"] >= 0


def test_matrix_multiply_summarises_large_products(executor: Executor) -> None:
    result = run(executor, "matrix_multiply", {"size": 17, "seed": 1})
    assert "product" not in result and isinstance(result["checksum"], float)
    again = run(executor, "matrix_multiply", {"size": 17, "seed": 1})
    assert again["checksum"] == result["checksum"]  # seeded: reproducible


def test_sleep_waits(executor: Executor) -> None:
    started = time.monotonic()
    assert run(executor, "sleep", {"seconds": 0.05}) == {"seconds": 0.05}
    assert time.monotonic() - started >= 0.05


def test_cpu_burns_cpu_time(executor: Executor) -> None:
    result = run(executor, "cpu", {"ms": 30})
    assert result["cpu_seconds"] >= 0.03 and result["iterations"] > 0


def test_io_latency_stays_within_the_jitter(executor: Executor) -> None:
    for _ in range(5):
        latency = run(executor, "io", {"ms": 10, "jitter_ms": 5})["latency_ms"]
        assert 5 <= latency <= 15


def test_io_jitter_with_a_seed_is_reproducible(executor: Executor) -> None:
    def latency(seed: int) -> float:
        payload = {"ms": 10, "jitter_ms": 5, "seed": seed}
        return float(run(executor, "io", payload)["latency_ms"])

    assert latency(7) == latency(7)
    assert len({latency(s) for s in range(5)}) > 1  # the seed decides the draw


def test_flaky_fails_with_its_probability(executor: Executor) -> None:
    with pytest.raises(FlakyError):
        run(executor, "flaky", {"probability": 1})
    assert run(executor, "flaky", {"probability": 0}) == {"ok": True}
    outcomes = set()
    for _ in range(3):  # seeded: the same outcome every time
        try:
            run(executor, "flaky", {"probability": 0.5, "seed": 7})
            outcomes.add("ok")
        except FlakyError:
            outcomes.add("failed")
    assert len(outcomes) == 1


def test_echo_returns_the_payload_itself(executor: Executor) -> None:
    payload = {"a": [1, 2, {"b": None}], "c": "d"}
    assert run(executor, "echo", payload) is payload
    assert run(executor, "echo", None) is None


@pytest.mark.parametrize(
    ("task_type", "payload", "field"),
    [
        ("matrix_multiply", {"size": 0}, "size"),
        ("matrix_multiply", {"size": 2001}, "size"),
        ("matrix_multiply", {"size": 10, "sise": 3}, "sise"),
        ("matrix_multiply", {}, "size"),
        ("sleep", {"seconds": -1}, "seconds"),
        ("sleep", {"seconds": 3601}, "seconds"),
        ("cpu", {"ms": 600_001}, "ms"),
        ("io", {"ms": 5, "jitter_ms": 600_001}, "jitter_ms"),
        ("flaky", {"probability": 1.5}, "probability"),
        ("flaky", {"probability": 0.5, "seed": "x"}, "seed"),
    ],
)
def test_bad_payloads_are_refused_naming_the_field(
    task_type: str, payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidPayload) as info:
        REGISTRY.validate_payload(task_type, payload)
    assert [e["loc"][0] for e in info.value.errors] == [field]
    assert f"{field}: " in str(info.value)


def test_the_documented_request_payload_is_valid() -> None:
    REGISTRY.validate_payload("matrix_multiply", {"size": 10})
