"""install(): before or after the SDK import, idempotent, native kept unless forced; uninstall()."""

import re
import subprocess
import sys
import textwrap

import pytest

import futu_buybacks

from conftest import SDKS, has_native

pytestmark = pytest.mark.skipif(not SDKS, reason="no SDK installed")


# The child reports through ``emit(...)``: one write of one whole line.  The SDK logs to stdout
# too, from its own threads, so a ``print`` of several values could be cut by one of its lines.
_PRELUDE = """
import sys
def emit(*values):
    sys.stdout.write(" ".join(["result:", *map(str, values)]) + "\\n")
    sys.stdout.flush()
"""


#: A line of the SDKs' own logger (futu and moomoo alike): "2026-04-09 10:00:00,123 | pid | tid | [file.py:1] ..."
SDK_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \| \d+ \| \d+ \| \[")
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # moomoo colours its lines


def run(code: str) -> str:
    """The last line the code reports with ``emit(...)``; the child's stderr holds nothing of ours."""
    result = subprocess.run([sys.executable, "-c", _PRELUDE + textwrap.dedent(code)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    foreign = [line for line in ANSI.sub("", result.stderr).splitlines()
               if line.strip() and not SDK_LOG_LINE.match(line)]
    assert foreign == [], result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("result: ")]
    assert lines, result.stdout[-3000:]
    return lines[-1][len("result: "):]


@pytest.mark.parametrize("sdk", SDKS)
@pytest.mark.parametrize("order", ["install-first", "sdk-first"])
def test_install_before_or_after_the_sdk_import(sdk, order):
    expected = "native" if has_native(sdk) else "patched"
    line = run(f"""
        import importlib
        first = {order!r} == "install-first"
        if not first: importlib.import_module({sdk!r})
        import futu_buybacks
        report = futu_buybacks.install()
        assert report[{sdk!r}] == ("deferred" if first else {expected!r}), report
        from {sdk} import *
        from futu_buybacks.simulator import Simulator
        with Simulator() as sim:
            ctx = OpenQuoteContext(host=sim.host, port=sim.port)
            ret, data = ctx.get_corporate_actions_buybacks("HK.00700", num=3)
            ctx.close()
        emit(ret, len(data["hk_buy_back_list"]), futu_buybacks.install()[{sdk!r}])
    """)
    assert line == f"0 3 {expected}"


@pytest.mark.parametrize("sdk", SDKS)
def test_a_script_that_installs_calls_and_exits_prints_nothing_of_ours(sdk):
    """Nothing but the SDK's own log lines on stderr, garbage collection and interpreter exit included
    (moomoo-api 9.6 printed "Exception ignored in ... __del__" after every install())."""
    line = run(f"""
        import gc
        import futu_buybacks
        from {sdk} import *
        report = futu_buybacks.install()
        from futu_buybacks.simulator import Simulator
        with Simulator() as sim:
            ctx = OpenQuoteContext(host=sim.host, port=sim.port)
            ret, data = ctx.get_corporate_actions_buybacks("SH.600519", num=2)
            ctx.close()
        gc.collect()
        emit(ret, len(data["a_buy_back_list"]))
    """)
    assert line == "0 2"


@pytest.mark.parametrize("sdk", SDKS)
def test_install_is_idempotent_and_force_replaces_the_native(sdk):
    import importlib
    module = importlib.import_module(sdk)
    cls = module.OpenQuoteContext
    futu_buybacks.uninstall()  # start from the SDK as shipped
    original = cls.__dict__.get("get_corporate_actions_buybacks")
    assert not getattr(original, "__futu_buybacks__", False)
    try:
        first = futu_buybacks.install()[sdk]
        assert futu_buybacks.install()[sdk] == first
        if original is None:
            assert first == "patched"
            assert cls.get_corporate_actions_buybacks is futu_buybacks.get_corporate_actions_buybacks
        else:
            assert first == "native" and cls.__dict__["get_corporate_actions_buybacks"] is original
            assert futu_buybacks.install(force=True)[sdk] == "forced"
            assert cls.get_corporate_actions_buybacks is futu_buybacks.get_corporate_actions_buybacks
            assert futu_buybacks.install()[sdk] == "forced"
        futu_buybacks.uninstall()
        assert cls.__dict__.get("get_corporate_actions_buybacks") is original
    finally:
        futu_buybacks.uninstall()
        futu_buybacks.install()


def test_report_names_every_sdk():
    report = futu_buybacks.install()
    assert set(report) == {"futu", "moomoo"}
    assert set(report.values()) <= {"patched", "native", "forced", "deferred", "absent"}
    assert "futu:" in str(report)
