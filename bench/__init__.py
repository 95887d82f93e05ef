"""Benchmark: taskq side by side with Celery, RQ, Dramatiq and arq on one private Redis.

Run it with ``python -m bench.run`` (see ``bench/README.md``). Every system is driven
through the same interface (``bench.systems.BenchSystem``) with the same no-op workload;
completions are counted by one Lua script in the benchmark's own Redis (``bench.counter``).
"""
