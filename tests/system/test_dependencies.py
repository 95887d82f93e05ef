"""The system runs without the lab's dependencies (`pip install taskq`, no `lab` extra):
every module of ``system`` imports with them blocked, and the lab then says what to
install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# The `lab` extra of pyproject.toml, by import name.
LAB_ONLY = (
    "yaml",
    "httpx",
    "pandas",
    "matplotlib",
    "rich",
    "prometheus_api_client",
    "scipy",
    "docker",
)

PROGRAM = textwrap.dedent(
    """
    import importlib, pkgutil, sys

    BLOCKED = set(sys.argv[1:])

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is a lab dependency")
            return None

    sys.meta_path.insert(0, Block())
    import system

    walked = pkgutil.walk_packages(system.__path__, "system.")
    names = [m.name for m in walked if not m.name.endswith("__main__")]  # runs the CLI
    for name in names:
        importlib.import_module(name)
    print(len(names))
    """
)


def test_system_imports_without_the_lab_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, *LAB_ONLY], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 30  # every module was walked, not just the package


def test_the_lab_without_its_extra_names_the_install() -> None:
    program = PROGRAM.replace("import system\n", "import lab\nimport system\n")
    done = subprocess.run(
        [sys.executable, "-c", program, "pandas", "scipy"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "pip install 'taskq[lab]' (missing: pandas, scipy)" in done.stderr
