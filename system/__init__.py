"""taskq: a distributed task queue built from Redis scripts and worker processes."""

__version__ = "0.1.0"
