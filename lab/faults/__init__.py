"""Stage 3, faults: what the timeline's events act on besides the backend's processes.

``dependency`` (a downstream service the lab can take down) · ``handlers`` (the task
module a scenario imports, ``system.imports: [lab.faults.handlers]``: ``dependency_call``)
· ``network`` (a network event as Toxiproxy calls: apply and undo) · ``toxiproxy/`` (the
lab's own Toxiproxy-compatible proxy, its server, runner and client). Killing, pausing and
scaling processes are the backend's operations (``lab.backends``).
"""
