"""Tools for teaching from the book: student copies of the chapter notebooks.

Used by the workshop guide. A code cell tagged ``solution`` is an exercise's answer (also tagged
``hide-cell``, so the HTML book folds it away until the reader opens it); a student copy
replaces it with an exercise stub (the same tags minus ``solution`` and the hiding tags, plus
``exercise``) and clears every output, so students start from a clean notebook. The folded
solutions and answers of markdown exercises and quizzes become one-line pointers (JupyterLab
would show them unfolded)::

    make student                                  # all chapters → _build/student/
    python -m inpaintlib.teaching book _build/student
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Optional, Sequence, Union

__all__ = ["SOLUTION_TAG", "EXERCISE_TAG", "STUB", "student_notebook", "write_student_copies",
           "solution_leaks", "strip_folded_answers", "main"]

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"
#: Tags that fold a solution away in the HTML book (``hide-cell``: code and output behind a
#: "Show the solution" button); a student copy drops them, since the stub is the student's to write.
HIDE_TAGS = ("hide-input", "hide-output", "hide-cell")
#: What a solution cell becomes in a student copy: it fails clearly when run, so a
#: student sees at once which cell is theirs to write.
STUB = ("# Exercise: write your solution here (the task is in the text above), then run the cell.\n"
        'raise NotImplementedError("Exercise: your code here — replace this line with your solution")\n')

PathLike = Union[str, os.PathLike]


#: A folded answer in a markdown cell: ``:::{admonition} Solution`` (or ``Answer``) with
#: ``:class: dropdown``, up to its closing ``:::`` at the same indentation.
_FOLDED = re.compile(r"^([ \t]*):::\{admonition\} (Solution|Answer)[ \t]*\n\1:class: dropdown[ \t]*\n"
                     r".*?^\1:::[ \t]*$", re.M | re.S)


def strip_folded_answers(text: str) -> tuple[str, int]:
    """Replace every folded solution or answer of a markdown cell by a one-line pointer.

    JupyterLab shows MyST admonitions as plain text, so a student copy would print the
    answers right under the questions; the HTML book keeps them folded. Returns the new
    text and the number of answers removed."""
    return _FOLDED.subn(lambda m: f"{m.group(1)}*{m.group(2)}: folded under this question in the HTML book.*", text)


def student_notebook(nb: dict) -> tuple[dict, int]:
    """Return a student copy of a notebook (as parsed JSON) and the number of exercises.

    Solution cells become stubs; all outputs and execution counts are cleared; the
    notebook-level widget state is dropped (it belongs to the executed copy).
    """
    out = json.loads(json.dumps(nb))  # deep copy, JSON types only
    n = 0
    for cell in out.get("cells", []):
        if cell.get("cell_type") == "markdown":
            text = "".join(cell.get("source", ""))
            stripped, k = strip_folded_answers(text)
            if k:
                cell["source"] = stripped
        if cell.get("cell_type") != "code":
            continue
        tags = list(cell.get("metadata", {}).get("tags", []))
        if SOLUTION_TAG in tags:
            n += 1
            tags = [t for t in tags if t not in (SOLUTION_TAG, *HIDE_TAGS)] + [EXERCISE_TAG]
            cell["metadata"]["tags"] = tags
            cell["metadata"].pop("mystnb", None)      # the "Show the solution" button's labels
            cell["source"] = STUB
        cell["outputs"] = []
        cell["execution_count"] = None
    out.get("metadata", {}).pop("widgets", None)
    return out, n


def _cell_names(source: str) -> tuple[set, set]:
    """Names a cell binds and names it reads (magics and shell lines are skipped)."""
    import ast

    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    tree = ast.parse(code)
    bound, used = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, (ast.Store, ast.Del)) else used).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound, used


def solution_leaks(nb: dict) -> list[tuple[int, str]]:
    """``(cell index, name)`` for every later non-solution code cell that reads a name
    bound only in a ``solution`` cell (and not rebound since).

    A student copy replaces solution cells with a stub that raises, so such a cell would
    fail in the student copy; an empty list means the notebook runs on after every stub.
    A static check over names (``ast``): a name read inside a function counts as read.
    The "Teaching a workshop" guide explains why it matters; the test suite runs it on
    every chapter.
    """
    defined: set = set()
    only_in_solution: set = set()
    leaks = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        bound, used = _cell_names(source)
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            only_in_solution |= bound - defined
            continue
        leaks += [(i, name) for name in sorted((used - bound) & only_in_solution)]
        defined |= bound
        only_in_solution -= bound
    return leaks


def write_student_copies(src: PathLike, dest: PathLike) -> list[tuple[Path, int]]:
    """Write a student copy of every ``*.ipynb`` under ``src`` to the same relative path
    under ``dest``. Returns ``(path, number_of_exercises)`` for each copy written."""
    src, dest = Path(src), Path(dest)
    notebooks = sorted(p for p in src.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not notebooks:
        raise FileNotFoundError(f"no notebooks found under {src}")
    written = []
    for path in notebooks:
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read notebook {path}: {err}") from err
        copy, n = student_notebook(nb)
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(copy, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, target)
        written.append((target, n))
    return written


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m inpaintlib.teaching",
                                description="Write student copies of the book's notebooks.")
    p.add_argument("src", nargs="?", default="book", help="folder with the chapter notebooks")
    p.add_argument("dest", nargs="?", default="_build/student", help="output folder")
    args = p.parse_args(argv)
    try:
        written = write_student_copies(args.src, args.dest)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path, n in written:
        print(f"{path}  ({n} exercise{'s' if n != 1 else ''})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
