"""The book's exercises, quizzes and citations, checked statically (no build): every method
chapter ends with exercises and a quiz whose solutions are folded away, solution cells are
folded in the HTML and unfolded stubs in student copies, and every cited key is in the
bibliography."""
import json
import re
from pathlib import Path

import pytest

from inpaintlib.teaching import HIDE_TAGS, student_notebook

ROOT = Path(__file__).resolve().parents[1]
METHOD_CHAPTERS = ["clmser", "sc_lmser", "pconv", "gmcnn", "ctsdg"]
DROPDOWN = re.compile(r"^\s*:::\{admonition\} (Solution|Answer)\s*\n\s*:class: dropdown\s*$", re.M)


def cells(name):
    return json.loads((ROOT / "book" / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]


def text(cell):
    return "".join(cell["source"])


@pytest.mark.parametrize("name", METHOD_CHAPTERS)
def test_method_chapter_has_exercises_and_a_quiz_with_folded_answers(name):
    md = [text(c) for c in cells(name) if c["cell_type"] == "markdown"]
    exercises = [t for t in md if re.match(r"## (More )?[Ee]xercises", t)]
    quiz = [t for t in md if t.startswith("## Check your understanding")]
    assert len(exercises) == 1 and len(quiz) == 1, name
    n_ex = len(re.findall(r"^\*\*\d+\. ", exercises[0], re.M))
    n_stub = sum("solution" in c.get("metadata", {}).get("tags", []) for c in cells(name))
    assert 3 <= n_ex + n_stub <= 6, f"{name}: {n_ex} + {n_stub} exercises"
    assert len(DROPDOWN.findall(exercises[0])) == n_ex, f"{name}: every exercise needs a folded solution"
    n_q = len(re.findall(r"^\d+\. ", quiz[0], re.M))
    assert 3 <= n_q <= 5 and len(DROPDOWN.findall(quiz[0])) == n_q, f"{name}: quiz of {n_q} questions"


def test_solution_cells_are_folded_in_the_book_and_unfolded_in_student_copies():
    for nb_path in sorted((ROOT / "book").glob("*.ipynb")):
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        for c in nb["cells"]:
            if "solution" in c.get("metadata", {}).get("tags", []):
                assert "hide-cell" in c["metadata"]["tags"], f"{nb_path.name}: solution cell shown unfolded"
        copy, _ = student_notebook(nb)
        for c in copy["cells"]:
            if "exercise" in c.get("metadata", {}).get("tags", []):
                assert not set(HIDE_TAGS) & set(c["metadata"]["tags"]) and "mystnb" not in c["metadata"]


def test_every_cited_key_is_in_the_bibliography():
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"^@\w+\{([^,]+),", bib, re.M))
    sources = [p.read_text(encoding="utf-8") for p in (ROOT / "book").glob("*.md")]
    sources += ["\n".join(text(c) for c in json.loads(p.read_text(encoding="utf-8"))["cells"]
                          if c["cell_type"] == "markdown") for p in (ROOT / "book").glob("*.ipynb")]
    cited = {k.strip() for s in sources for group in re.findall(r"\{cite(?::[pt])?\}`([^`]+)`", s)
             for k in group.split(",")}
    assert cited, "no citations found"
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"


def _solution_code_blocks():
    for name in METHOD_CHAPTERS:
        for c in cells(name):
            s = text(c)
            if c["cell_type"] == "markdown" and ":class: dropdown" in s:
                for i, block in enumerate(re.findall(r"```python\n(.*?)```", s, re.S)):
                    yield pytest.param(block, id=f"{name}-{c['id']}-{i}")


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("block", list(_solution_code_blocks()))
def test_code_in_folded_solutions_runs(block, capsys):
    """The code a reader pastes from a folded solution runs, and prints what its comments say."""
    exec(compile(block, "<solution>", "exec"), {"__name__": "__solution__"})
    printed = capsys.readouterr().out.split()
    expected = [tok for line in block.splitlines() if "# " in line and line.lstrip().startswith("print(")
                for tok in line.split("# ", 1)[1].split()]
    for tok in expected:
        try:
            value = float(tok)
        except ValueError:
            continue
        assert any(_close(p, value) for p in printed), f"expected {tok} among the printed values {printed}"


def _close(printed: str, value: float) -> bool:
    try:
        return abs(float(printed) - value) <= 0.01 * max(1.0, abs(value))
    except ValueError:
        return False


def test_student_copies_replace_folded_answers_by_a_pointer():
    from inpaintlib.teaching import strip_folded_answers

    for name in METHOD_CHAPTERS:
        nb = json.loads((ROOT / "book" / f"{name}.ipynb").read_text(encoding="utf-8"))
        copy, _ = student_notebook(nb)
        folded = sum(len(DROPDOWN.findall(text(c))) for c in nb["cells"] if c["cell_type"] == "markdown")
        left = "".join(text(c) for c in copy["cells"] if c["cell_type"] == "markdown")
        assert folded and ":class: dropdown" not in left, name
        assert left.count("folded under this question in the HTML book") == folded, name
        for a, b in zip(nb["cells"], copy["cells"]):       # questions and other text are kept
            if a["cell_type"] == "markdown" and ":class: dropdown" not in text(a):
                assert text(a) == text(b)
    # an indented answer (a quiz item) keeps its indentation; code fences inside are removed with it
    src = "1. Why?\n\n   :::{admonition} Answer\n   :class: dropdown\n   Because.\n   ```python\n   x = 1\n   ```\n   :::\n\nNext."
    out, n = strip_folded_answers(src)
    assert n == 1 and out == "1. Why?\n\n   *Answer: folded under this question in the HTML book.*\n\nNext."
