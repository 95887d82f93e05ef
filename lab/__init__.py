"""The lab: experiment orchestration for the task queue, one pipeline in five stages.

``scenario/`` what a run is to be (YAML, validated) → ``run/`` bring the system up, offer
the load, apply the timeline's events, collect → ``faults/`` what events act on besides
processes (a dependency, network faults through a Toxiproxy-compatible proxy) →
``analysis/`` from the tables to a typed ``RunSummary`` and the checks' verdict →
``report/`` the results folder, figures, report files, sweeps and comparisons.
``backends/`` is where the system runs (local processes, their Prometheus); ``web/`` the
lab in a browser (a run's live page, ``lab serve``); ``cli`` is the ``lab`` command;
``results`` re-exports ``load`` for notebooks.
"""

from importlib.util import find_spec

# The `lab` extra of pyproject.toml, by import name. `pip install taskq` leaves it out (a
# production API or worker needs none of it): say what to install instead of failing on
# the first import deep inside a stage.
_EXTRA = (
    "yaml",
    "httpx",
    "pandas",
    "matplotlib",
    "rich",
    "scipy",
    "prometheus_api_client",
    "docker",
)


def _installed(name: str) -> bool:
    try:
        return find_spec(name) is not None
    except ImportError:  # an import hook that refuses it
        return False


_missing = [name for name in _EXTRA if not _installed(name)]
if _missing:
    raise ImportError(
        f"the lab needs its extra: pip install 'taskq[lab]' (missing: {', '.join(_missing)})"
    )
