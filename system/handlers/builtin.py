"""The built-in handlers: the original project's examples, used by the lab's experiments.

Each has a pydantic payload model with bounds, so a bad payload is refused (by the API at
submit, by the worker before any work) with the offending field named. ``echo`` has no
model: it is the no-op that benchmarks measure the queue's own overhead with.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from system.registry import task

PRODUCT_MAX_SIZE = 16  # larger products are summarised, not returned (result size limit)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored


# numpy refuses negative seeds, and JSON integers travel as 64-bit.
SEED_MAX = 2**63 - 1


class MatrixPayload(_Payload):
    size: int = Field(ge=1, le=2000, description="Rows and columns of both matrices.")
    seed: int | None = Field(None, ge=0, le=SEED_MAX, description="Seed of the matrices.")


class SleepPayload(_Payload):
    seconds: float = Field(ge=0, le=3600, description="How long to sleep, in seconds.")


class CpuPayload(_Payload):
    ms: float = Field(ge=0, le=600_000, description="CPU time to burn, in milliseconds.")


class IoPayload(_Payload):
    ms: float = Field(ge=0, le=600_000, description="Mean latency, in milliseconds.")
    jitter_ms: float = Field(
        0,
        ge=0,
        le=600_000,
        description="Uniform jitter around the mean, in milliseconds. The latency is "
        "clipped at zero, so a jitter beyond ms raises the mean.",
    )
    seed: int | None = Field(
        None, ge=0, le=SEED_MAX, description="Seed of the jitter draw (the lab sets one)."
    )


class FlakyPayload(_Payload):
    probability: float = Field(ge=0, le=1, description="Probability of failing, 0..1.")
    seed: int | None = Field(None, ge=0, le=SEED_MAX, description="Seed of the draw.")


class FlakyError(RuntimeError):
    """The planned failure of the ``flaky`` handler."""


@task("matrix_multiply", mode="process")
def matrix_multiply(p: MatrixPayload) -> dict[str, Any]:
    """Multiply two seeded random size x size matrices (CPU-bound, numpy)."""
    rng = np.random.default_rng(p.seed)
    a = rng.random((p.size, p.size))
    b = rng.random((p.size, p.size))
    started = time.perf_counter()
    product = a @ b
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "size": p.size,
        "checksum": float(product.sum()),
        "trace": float(np.trace(product)),
        "seconds": seconds,
    }
    if p.size <= PRODUCT_MAX_SIZE:
        result["product"] = product.tolist()
    return result


@task("sleep")
async def sleep(p: SleepPayload) -> dict[str, float]:
    """Sleep without using CPU (asyncio.sleep)."""
    await asyncio.sleep(p.seconds)
    return {"seconds": p.seconds}


@task("cpu", mode="process")
def cpu(p: CpuPayload) -> dict[str, float]:
    """Busy-loop until this process has used the given milliseconds of CPU time."""
    started = time.process_time()
    deadline = started + p.ms / 1000
    iterations = 0
    while time.process_time() < deadline:
        for _ in range(1000):  # amortise the clock call
            iterations += 1
    return {"ms": p.ms, "cpu_seconds": time.process_time() - started, "iterations": iterations}


@task("io")
async def io(p: IoPayload) -> dict[str, float]:
    """Simulated I/O: wait ms +/- a uniform jitter_ms, without using CPU."""
    draw = random.Random(p.seed) if p.seed is not None else random
    latency_ms = max(0.0, p.ms + draw.uniform(-p.jitter_ms, p.jitter_ms))
    await asyncio.sleep(latency_ms / 1000)
    return {"latency_ms": latency_ms}


@task("flaky")
async def flaky(p: FlakyPayload) -> dict[str, bool]:
    """Fail with the given probability (FlakyError), else succeed: for retry studies."""
    draw = random.Random(p.seed).random() if p.seed is not None else random.random()
    if draw < p.probability:
        raise FlakyError(f"planned failure (probability {p.probability:g})")
    return {"ok": True}


@task("echo")
async def echo(payload: Any) -> Any:
    """Return the payload unchanged (the no-op used to measure queue overhead)."""
    return payload
