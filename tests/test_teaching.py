"""Student copies (`make student`): every exercise stub fails clearly when run, and the
rest of each chapter runs on after it."""
import json
from pathlib import Path

import pytest

from inpaintlib.teaching import EXERCISE_TAG, STUB, solution_leaks, student_notebook, write_student_copies

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


def chapters():
    return sorted((ROOT / "book").glob("*.ipynb"))


def test_the_stub_raises_not_implemented_and_keeps_a_comment_line():
    assert STUB.splitlines()[0].startswith("# Exercise")
    with pytest.raises(NotImplementedError, match="your code here"):
        exec(compile(STUB, "<stub>", "exec"), {})


def test_every_exercise_of_every_student_copy_fails_clearly(tmp_path):
    written = write_student_copies(ROOT / "book", tmp_path)
    total = 0
    for path, n in written:
        cells = [c for c in json.loads(path.read_text())["cells"] if EXERCISE_TAG in c["metadata"].get("tags", [])]
        assert len(cells) == n
        for cell in cells:
            total += 1
            with pytest.raises(NotImplementedError, match="your code here"):
                exec(compile("".join(cell["source"]), f"{path.name} exercise", "exec"), {})
    assert total >= 2                      # the intro's and the comparison chapter's at least


@pytest.mark.parametrize("chapter", chapters(), ids=lambda p: p.name)
def test_no_later_cell_needs_a_name_bound_only_in_a_solution(chapter):
    assert solution_leaks(json.loads(chapter.read_text())) == []


def _nb(*cells):
    """A notebook from (source, is_solution) pairs."""
    return {"cells": [{"cell_type": "code", "source": src, "metadata": {"tags": ["solution"] if sol else []},
                       "outputs": [], "execution_count": None} for src, sol in cells]}


def test_solution_leak_check_finds_what_a_student_copy_would_break():
    nb = _nb(("import numpy as np\nx = 1", False),
             ("y = x + 1\ndef helper(a):\n    return a\nfrom math import pi as tau", True),
             ("print(y)", False),                     # reads y: only the solution binds it
             ("z = helper(2) + np.pi", False),        # reads helper
             ("tau = 6.28", False),                    # rebinding tau ...
             ("print(tau, x)", False))                 # ... so this cell is fine
    assert solution_leaks(nb) == [(2, "y"), (3, "helper")]
    assert solution_leaks(_nb(("x = 1", False), ("x = 2", True), ("print(x)", False))) == []
    # magics and shell lines do not trip the parser
    assert solution_leaks(_nb(("%matplotlib inline\n!ls\nq = 1", True), ("print(q)", False))) == [(1, "q")]


def test_the_intro_student_copy_runs_on_after_its_stub(tmp_path, monkeypatch):
    """Executed like a student would: the only errors are the exercises' NotImplementedError."""
    import nbformat
    from nbclient import NotebookClient

    copy, n = student_notebook(json.loads((ROOT / "book/intro.ipynb").read_text()))
    assert n >= 1
    nb = nbformat.reads(json.dumps(copy), as_version=4)
    monkeypatch.setenv("INPAINTLIB_PROFILE", "quick")
    monkeypatch.setenv("INPAINTLIB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT / "book")}}).execute()
    errors = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.execution_count, f"cell {i} did not run"
        for out in cell.outputs:
            if out.output_type == "error":
                errors.append((i, out.ename, out.evalue, EXERCISE_TAG in cell.metadata.get("tags", [])))
    assert errors, "the exercise stub should have raised"
    for i, ename, evalue, is_exercise in errors:
        assert is_exercise and ename == "NotImplementedError" and "your code here" in evalue, (i, ename, evalue)
    assert len(errors) == n
