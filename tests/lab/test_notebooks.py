"""Both notebooks run top to bottom against the committed example results; any error in
any cell fails the test (nbclient, with the ipykernel of this environment)."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from tests.lab.conftest import REPO

NOTEBOOKS = REPO / "notebooks"


@pytest.mark.parametrize("name", ["thesis_analysis.ipynb", "fault_analysis.ipynb"])
def test_notebook_runs_against_the_examples(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("LAB_SWEEP", "LAB_RUN"):  # the committed examples, whatever is set
        monkeypatch.delenv(variable, raising=False)
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        book,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError naming the cell and the error
    outputs = [o for cell in book.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 1, "figures were drawn"
