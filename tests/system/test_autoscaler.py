"""Autoscaling: the policy's decisions (pure logic) and ``taskq up --autoscale`` following
a real backlog up and back down."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from system.autoscaler import Autoscaler, Observation, parse_range
from system.client import Client
from system.config import AutoscaleSettings
from system.core import ops
from system.core.submission import TaskRequest

from .test_cli import TASKQ

POLICY = AutoscaleSettings(
    min_workers=1,
    max_workers=10,
    target_wait_seconds=2.0,
    scale_up_cooldown_seconds=5,
    scale_down_cooldown_seconds=30,
)


def test_capacity_rule_sizes_for_the_target_wait_at_most_doubling() -> None:
    scaler = Autoscaler(POLICY)
    # 2 workers finish 20 tasks/s: 10 each. 100 ready in 2 s needs 5 workers; capped at 4.
    assert scaler.decide(Observation(100, 3.0, 20.0), 2, now=0) == 4
    # Within the up cooldown: no change, whatever the backlog.
    assert scaler.decide(Observation(500, 9.0, 40.0), 4, now=4.9) == 4
    assert scaler.decide(Observation(500, 9.0, 40.0), 4, now=5.0) == 8
    assert scaler.decide(Observation(5000, 9.0, 80.0), 8, now=10.0) == 10  # max_workers


def test_long_wait_without_throughput_adds_a_worker() -> None:
    scaler = Autoscaler(POLICY)
    assert scaler.decide(Observation(10, 2.5, 0.0), 1, now=0) == 2
    assert scaler.decide(Observation(0, 0.0, 0.0), 0, now=0) == 1  # min_workers


def test_scale_down_is_gradual_calm_and_after_the_cooldown() -> None:
    scaler = Autoscaler(POLICY)
    assert scaler.decide(Observation(100, 3.0, 20.0), 2, now=0) == 4
    idle = Observation(0, 0.0, 40.0)
    assert scaler.decide(idle, 4, now=29.9) == 4  # cooldown after the change
    assert scaler.decide(idle, 4, now=30.0) == 3  # one at a time
    assert scaler.decide(idle, 3, now=45.0) == 3
    assert scaler.decide(idle, 3, now=60.0) == 2
    # Not calm (oldest wait over half the target): no decrease even if capacity allows.
    assert scaler.decide(Observation(1, 1.5, 40.0), 2, now=200.0) == 2
    assert scaler.decide(idle, 1, now=300.0) == 1  # min_workers
    # Nothing ready and nothing finishing (all idle): down as well.
    assert scaler.decide(Observation(0, 0.0, 0.0), 2, now=400.0) == 1


def test_range_and_bounds_are_checked() -> None:
    assert parse_range("2:16") == (2, 16)
    for bad in ("8", "a:b", "1-4", ":4"):
        with pytest.raises(ValueError, match="MIN:MAX"):
            parse_range(bad)
    with pytest.raises(ValidationError, match="MIN <= MAX"):
        AutoscaleSettings(min_workers=5, max_workers=2)


def test_taskq_up_autoscale_follows_the_backlog(redis_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TASKQ_AUTOSCALE__SCALE_UP_COOLDOWN_SECONDS": "0.5",
        "TASKQ_AUTOSCALE__SCALE_DOWN_COOLDOWN_SECONDS": "1",
        "TASKQ_AUTOSCALE__INTERVAL_SECONDS": "0.25",
        "TASKQ_WORKER__POLL_INTERVAL_SECONDS": "0.2",
    }
    cmd = [
        *TASKQ,
        "up",
        "--redis-url",
        redis_url,
        "--port",
        "0",
        "--workers",
        "1",
        "-c",
        "4",
        "--autoscale",
        "1:4",
        "--target-wait",
        "0.5",
        "--log-level",
        "info",
    ]
    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        with Client(redis_url) as client:
            # 4 x 50 ms at once: one worker does 80 tasks/s; 600 tasks take it 7.5 s.
            reqs = [TaskRequest("sleep", {"seconds": 0.05}) for _ in range(600)]
            ids = [s.id for s in client.submit_many(reqs)]
            peak, deadline = 0, time.monotonic() + 40
            while any(not client.get(i).terminal for i in ids[-20:]):
                peak = max(peak, len(client.workers()))
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)
            assert 2 <= peak <= 4, log.read_text()[-3000:]
            # Idle: back down to the minimum, one worker at a time.
            deadline = time.monotonic() + 30
            while len(client.workers()) > 1:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
        assert "autoscale default: 1 -> 2 workers" in log.read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_only_the_holder_of_the_autoscaler_lease_scales(redis_url: str, tmp_path: Path) -> None:
    """Another supervisor holds the queue's autoscaler lease: this one keeps its workers
    under a backlog, and takes over once the lease is given up."""
    other = "supervisor-elsewhere-1"
    env = {
        **os.environ,
        "TASKQ_AUTOSCALE__SCALE_UP_COOLDOWN_SECONDS": "0.5",
        "TASKQ_AUTOSCALE__INTERVAL_SECONDS": "0.25",
    }
    cmd = [
        *TASKQ,
        "up",
        "--redis-url",
        redis_url,
        "--port",
        "0",
        "--workers",
        "1",
        "-c",
        "2",
        "--autoscale",
        "1:3",
        "--target-wait",
        "0.5",
        "--log-level",
        "info",
    ]
    log = tmp_path / "up.log"
    with Client(redis_url) as client:
        assert client.run(ops.lead("default", other, 60_000, duty="autoscaler")) > 0
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        try:
            reqs = [TaskRequest("sleep", {"seconds": 0.1}) for _ in range(300)]
            ids = [s.id for s in client.submit_many(reqs)]
            deadline = time.monotonic() + 20
            while "another supervisor decides" not in log.read_text():
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)
            time.sleep(2)  # a backlog of 15 s for one worker, and a wait well over target
            assert len(client.workers()) == 1, log.read_text()[-3000:]
            client.run(ops.lead("default", other, 0, duty="autoscaler"))  # give it up
            deadline = time.monotonic() + 20
            while len(client.workers()) < 2:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)
            assert "this supervisor decides" in log.read_text()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(30) == 0
            for task_id in ids:  # leave the shared Redis's default queue empty
                client.cancel(task_id)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            client.run(ops.lead("default", other, 0, duty="autoscaler"))
