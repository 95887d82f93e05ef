"""The lab: experiment orchestration for the task queue (scenarios, load, faults, reports)."""
