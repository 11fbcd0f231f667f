"""The documented example, verbatim plus install(), prints the documented table; the docs match the code."""

import ast
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SDKS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_example_is_the_vendor_example_plus_one_line():
    lines = (DOCS / "example.py").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("import futu_buybacks; futu_buybacks.install()")
    assert lines[1:4] == ["from futu import *", "import pandas as pd",
                          "quote_ctx = OpenQuoteContext(host='127.0.0.1', port=11111)"]


@pytest.mark.skipif("futu" not in SDKS, reason="the documented example imports futu")
def test_example_prints_the_documented_table():
    env = dict(os.environ, FUTU_BUYBACKS_PORT=str(free_port()))
    result = subprocess.run([sys.executable, str(DOCS / "run_example.py")], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = [line.split() for line in (DOCS / "example_output.txt").read_text(encoding="utf-8").splitlines()]
    printed = [line.split() for line in result.stdout.splitlines()]
    start = printed.index(expected[0])
    assert printed[start:start + len(expected)] == expected


def test_reliability_table_names_tests_that_exist():
    """Every ``test_file.py::test_name`` in docs/reliability.md is a test in that file."""
    text = (DOCS / "reliability.md").read_text(encoding="utf-8")
    named = re.findall(r"(test_\w+\.py)::(test_\w+)", text)
    assert len(named) >= 15
    tests = Path(__file__).parent
    missing = [f"{file}::{name}" for file, name in named
               if f"def {name}(" not in (tests / file).read_text(encoding="utf-8")]
    assert missing == []


def test_compatibility_table_lists_the_matrix_cells():
    """README's table and noxfile's CELLS name the same cells (each row as tested)."""
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    cells = next(ast.literal_eval(node.value) for node in tree.body
                 if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "CELLS")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Compatibility", 1)[1].split("\n\n")[1]
    rows = {line.split("|")[1].strip() for line in table.splitlines()[2:]}
    assert rows - {"`make test`"} == {cell[0] for cell in cells}
