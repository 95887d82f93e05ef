"""schemathesis over the API's own OpenAPI document, with all checks, against a real
server and Redis. Bounded: 20 examples per operation, fixed seed.

All checks include ``positive_data_acceptance``: every request the document calls valid
must be accepted. That holds because the submission schema names each task type with its
own payload schema (``system.api.openapi``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from system.redis_server import RedisServer

from .conftest import running_api

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
ROOT = Path(__file__).parents[3]


@pytest.mark.slow
@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is not installed")
def test_schemathesis_finds_no_failure(tmp_path: Path) -> None:
    env = {"TASKQ_API__MAX_WAIT_SECONDS": "1"}  # long polls end quickly under fuzzing
    # Its own Redis: the fuzzer leaves thousands of valid tasks in the default queue.
    with RedisServer() as redis, running_api(redis.url, tmp_path / "api.log", env) as url:
        out = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{url}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                "20",
                "--seed",
                "1",
                "--request-timeout",
                "10",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ROOT,
            env={
                **os.environ,
                "SCHEMATHESIS_HOOKS": "tests.system.api.schemathesis_hooks",
                "PYTHONPATH": str(ROOT),
            },
        )
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "Tested: 20" in out.stdout, out.stdout[-3000:]  # every operation was exercised
