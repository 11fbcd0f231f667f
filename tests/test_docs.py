"""The docs' examples print what they document and exit by themselves; the docs match the code."""

import ast
import copy
import importlib.util
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import SDKS, has_native

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: A script that has not exited after this long never will: an open context's threads keep it alive.
EXIT_TIMEOUT = 60
EXAMPLES = [pytest.param(name, package, id=package,
                         marks=pytest.mark.skipif(package not in SDKS, reason=f"{package} not installed"))
            for name, package in (("example.py", "futu"), ("example_moomoo.py", "moomoo"))]


def load_demo():
    spec = importlib.util.spec_from_file_location("run_example", DOCS / "run_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = load_demo()


def run_to_exit(args, timeout=EXIT_TIMEOUT, **kwargs) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{args[1:]} did not exit within {timeout} s (is a context left open?)")


def table_rows(text: str):
    return [line.split() for line in text.splitlines()]


def test_example_is_the_vendor_example_plus_one_line():
    lines = (DOCS / "example.py").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("import futu_buybacks; futu_buybacks.install()")
    assert lines[1:4] == ["from futu import *", "import pandas as pd",
                          "quote_ctx = OpenQuoteContext(host='127.0.0.1', port=11111)"]
    assert lines[-1] == "quote_ctx.close()"


def test_moomoo_example_is_the_futu_example_on_moomoo():
    futu = (DOCS / "example.py").read_text(encoding="utf-8")
    assert (DOCS / "example_moomoo.py").read_text(encoding="utf-8") == futu.replace(
        "from futu import *", "from moomoo import *", 1)


@pytest.mark.parametrize("example, package", EXAMPLES)
def test_example_prints_the_documented_table_and_exits(simulator, tmp_path, example, package):
    """One half of ``make demo``: install() patches or keeps the method, the example prints the table."""
    out = tmp_path / "half.pickle"
    result = run_to_exit([sys.executable, str(DOCS / "run_example.py"), "--half", str(DOCS / example), str(out)],
                         env=dict(os.environ, FUTU_BUYBACKS_PORT=str(simulator.port)))
    assert result.returncode == 0, result.stderr[-2000:]
    status = "native" if has_native(package) else "patched"
    report = next(line for line in result.stdout.splitlines() if line.startswith("futu_buybacks.install(): "))
    assert f"{package}: {status}" in report.split(": ", 1)[1].split(", ")
    expected = table_rows((DOCS / "example_output.txt").read_text(encoding="utf-8"))
    printed = table_rows(result.stdout)
    start = printed.index(expected[0])
    assert printed[start:start + len(expected)] == expected
    half = pickle.loads(out.read_bytes())
    assert half["status"] == status and half["result"][0] == 0
    assert half["answered_by"].startswith(package if status == "native" else "futu_buybacks.")


@pytest.fixture(scope="module")
def results(simulator):
    """Real results through the shim (an HK code, an A-share code, an error) and the native method's."""
    import futu_buybacks
    package = SDKS[0]
    sdk = importlib.import_module(package)
    ctx = type("Ctx", (futu_buybacks.BuybacksMixin, sdk.OpenQuoteContext), {})(host=simulator.host,
                                                                                port=simulator.port)
    try:
        calls = {code: ctx.get_corporate_actions_buybacks(code, num=3) for code in ("HK.00700", "SZ.000001")}
        calls["error"] = ctx.get_corporate_actions_buybacks("HK.99999")
        native = getattr(sdk.OpenQuoteContext, "get_corporate_actions_buybacks", None)
        if native is not None and native.__module__.startswith(package):
            calls["native"] = native(ctx, "HK.00700", num=3)
    finally:
        ctx.close()
    return calls


def changed(result, key, change):
    ret, data = copy.deepcopy(result)
    if key is None:
        return change(ret, data)
    data[key] = change(data[key])
    return ret, data


def set_cell(frame, column, value):
    frame.loc[0, column] = value
    return frame


def other_index(frame):
    index = frame.index
    return frame.set_axis(pd.Index(index.to_numpy()) if isinstance(index, pd.RangeIndex) else pd.RangeIndex(len(index)))


def other_string_dtype(frame):
    return frame.astype({"share_type": object if frame["share_type"].dtype != object else "string"})


DIFFERENCES = {
    "ret": (None, lambda ret, data: (ret + 1, data)),
    "next_key": ("next_key", lambda key: key + "0"),
    "key order": (None, lambda ret, data: (ret, dict(reversed(list(data.items()))))),
    "missing key": (None, lambda ret, data: (ret, {k: v for k, v in data.items() if k != "a_buy_back_list"})),
    "one ulp": ("hk_buy_back_list", lambda f: set_cell(f, "buy_back_money", np.nextafter(f["buy_back_money"][0], 0))),
    "NaN": ("hk_buy_back_list", lambda f: set_cell(f, "high_price", np.nan)),
    "string": ("hk_buy_back_list", lambda f: set_cell(f, "share_type", "优先股")),
    "int as float": ("hk_buy_back_list", lambda f: f.astype({"buy_back_sum": "float64"})),
    "string dtype": ("hk_buy_back_list", other_string_dtype),
    "column order": ("hk_buy_back_list", lambda f: f[list(reversed(f.columns))]),
    "row missing": ("hk_buy_back_list", lambda f: f.iloc[:-1]),
    "index type": ("hk_buy_back_list", other_index),
    "column renamed": ("a_buy_back_list", lambda f: f.rename(columns={f.columns[0]: "x"})),
    "a-share value": ("a_buy_back_list", lambda f: set_cell(f, "buy_back_sum", f["buy_back_sum"][0] + 1)),
    "a-share NaN filled": ("a_buy_back_list", lambda f: set_cell(f, "meet_pass_date", 0.0)),
}


@pytest.mark.skipif(not SDKS, reason="no SDK installed")
def test_demo_comparison_accepts_identical_results(results):
    for result in results.values():
        demo.assert_identical(result, copy.deepcopy(result))
    if "native" in results:
        demo.assert_identical(results["HK.00700"], results["native"])  # the shim's result is the vendor's
    with pytest.raises(AssertionError, match="data"):
        demo.assert_identical(results["error"], (results["error"][0], results["error"][1] + "."))


@pytest.mark.skipif(not SDKS, reason="no SDK installed")
@pytest.mark.parametrize("difference", DIFFERENCES)
def test_demo_comparison_refuses_every_difference(results, difference):
    key, change = DIFFERENCES[difference]
    code = "SZ.000001" if key == "a_buy_back_list" else "HK.00700"
    other = changed(results[code], key, change)
    with pytest.raises(AssertionError):
        demo.assert_identical(results[code], other)
    with pytest.raises(AssertionError):
        demo.assert_identical(other, results[code])


@pytest.mark.skipif("futu" not in SDKS, reason="the demo runs docs/example.py, which imports futu")
def test_demo_refuses_a_run_where_the_shim_did_not_answer_one_half():
    """The demo claims the first SDK was patched and the second kept its own: here both are alike."""
    result = run_to_exit([sys.executable, str(DOCS / "run_example.py"), sys.executable, sys.executable],
                         timeout=2 * demo.TIMEOUT + 30, env=dict(os.environ, FUTU_BUYBACKS_PORT="0"))
    assert result.returncode == 1
    assert "not a demo of the shim" in result.stderr
    assert "identical" not in result.stdout


def readme_quick_start() -> str:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Quick start", 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


@pytest.mark.parametrize("package", SDKS or [pytest.param(None, marks=pytest.mark.skip(reason="no SDK installed"))])
def test_readme_quick_start_exits_by_itself(simulator, tmp_path, package):
    source = readme_quick_start()
    assert "port=11111" in source and "from futu import *" in source
    source = source.replace("port=11111", f"port={simulator.port}").replace("from futu import *",
                                                                            f"from {package} import *")
    script = tmp_path / "quick_start.py"
    script.write_text(source, encoding="utf-8")
    result = run_to_exit([sys.executable, str(script)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1775664000" in result.stdout and "2026-04-09" in result.stdout


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


def test_datasets_example_runs_and_prints_what_it_documents(capsys):
    """docs/datasets.md's example: the simulator's records into events, a panel and a market series."""
    pytest.importorskip("exchange_calendars")
    pytest.importorskip("futu")
    text = (DOCS / "datasets.md").read_text(encoding="utf-8")
    source = re.search(r"## Example\n\n```python\n(.*?)```", text, flags=re.S).group(1)
    exec(compile(source, str(DOCS / "datasets.md"), "exec"), {})
    printed = capsys.readouterr().out
    assert "implementing" in printed and "records_20" in printed and "companies_20" in printed
    # 2026-04-09's HK.00700 buyback (the vendor's example row) counts at the 10th's open
    assert re.search(r"2026-04-10 HK\.00700\s+1964000\.0\s+1\.000881e\+09\s+1\s+10", printed)


def test_datasets_tables_name_every_stage_text_and_column():
    from futu_buybacks._events import STAGES
    from futu_buybacks._schema import EVENT_COLUMNS, PANEL_AMOUNTS

    text = (DOCS / "datasets.md").read_text(encoding="utf-8")
    stages = text.split("`stage` normalises", 1)[1].split("\n\n")[1]
    documented = {}
    for line in stages.splitlines()[2:]:
        _, stage, texts, _, _ = line.split("|")
        for word in texts.split(","):
            documented[word.strip()] = stage.strip().strip("`")
    documented.pop("any other text (leading and trailing spaces ignored)")
    assert documented == STAGES
    assert all(f"`{c.name}`" in text for c in EVENT_COLUMNS + PANEL_AMOUNTS)
