"""What a user reads: no SDK chatter on stdout, the progress bar, the command's help and files."""

import datetime as dt
import io
import json
import math
import subprocess
import sys
import textwrap
import types

import pytest
from test_ratelimit import FakeClock
from test_user_errors import assert_message, console

from futu_buybacks import RateLimiter, _cli, load_buybacks
from futu_buybacks.simulator import Dataset, Simulator, synthetic_dataset
from futu_buybacks.simulator import __main__ as simulator_main

from conftest import SDKS

#: The SDK's console line when a connection is ready (moomoo-api 9.6 words it differently).
CONNECTED = ("New connect ready", "InitConnect ok")

LOAD_SCRIPT = """
import sys
from futu_buybacks import load_buybacks
from {sdk}.common.ft_logger import logger
before = logger.console_level
tables = load_buybacks(["HK.00700", "SZ.000001"], port=int(sys.argv[1]), sdk="{sdk}", cache=False,
                       progress=False, verbose=sys.argv[2] == "verbose")
after = logger.console_level
print(f"loaded {{len(tables.hk_buy_back_list)}} {{tables.errors}}; console level {{before}} -> {{after}}")
"""


@pytest.mark.skipif(not SDKS, reason="no SDK installed")
@pytest.mark.parametrize("sdk_name", SDKS)
@pytest.mark.parametrize("mode", ["quiet", "verbose"])
def test_sdk_console_lines_stay_off_stdout_unless_verbose(simulator, sdk_name, mode):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(LOAD_SCRIPT.format(sdk=sdk_name)),
                             str(simulator.port), mode], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    last = f"loaded {len(simulator.dataset.records['HK.00700'])} {{}}; console level 20 -> 20\n"
    if mode == "quiet":
        assert result.stdout == last
    else:
        assert any(line in result.stdout for line in CONNECTED) and result.stdout.endswith(last)


@pytest.mark.skipif(not SDKS, reason="no SDK installed")
def test_the_command_is_quiet_on_stdout_and_verbose_on_request(simulator, tmp_path):
    args = ["fetch", "HK.00700", "--port", str(simulator.port), "--sdk", SDKS[0], "--no-cache",
            "--out-dir", str(tmp_path)]
    quiet = console(*args)
    assert_message(quiet, 0, "1 code ok, 0 failed")
    assert quiet.stdout == ""
    verbose = console(*args, "-v")
    assert_message(verbose, 0, "futu_buybacks: loading 1 code through OpenD at 127.0.0.1:", "1 code ok")
    assert any(line in verbose.stdout for line in CONNECTED)


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def world(sdk):
    dataset = synthetic_dataset(["HK.00001", "HK.00002", "SZ.000003"], 60)   # 2 pages each at 50
    with Simulator(dataset) as sim:
        ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
        yield sim, ctx
        ctx.close()


def test_progress_bar_in_a_terminal_counts_codes_requests_records_and_waits(world, monkeypatch):
    sim, ctx = world
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    clock = FakeClock()
    tables = load_buybacks(list(sim.dataset.records), ctx, cache=False,
                           limiter=RateLimiter("4/30", clock=clock, sleep=clock.sleep))
    assert tables.ok and tables.requests == 6
    final = terminal.getvalue().split("\r")[-1]
    assert "3/3 codes" in final
    assert "6 requests" in final and "180 records" in final
    assert "1 wait for the rate limit" in final


def test_progress_bar_is_off_when_stderr_is_not_a_terminal(world, monkeypatch):
    sim, ctx = world
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    load_buybacks(list(sim.dataset.records), ctx, cache=False, limiter=RateLimiter("1000/1"))
    assert pipe.getvalue() == ""


def test_progress_bar_is_on_in_a_notebook(world, monkeypatch):
    sim, ctx = world
    kernel = types.SimpleNamespace(config={"IPKernelApp": {}})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: kernel))
    output = io.StringIO()  # a kernel's stream is not a terminal
    monkeypatch.setattr(sys, "stderr", output)
    load_buybacks(["HK.00001"], ctx, cache=False, limiter=RateLimiter("1000/1"))
    assert "1/1 codes" in output.getvalue()


def test_the_eta_is_bounded_by_the_rate_limit():
    clock = FakeClock()
    limiter = RateLimiter("30/30", clock=clock, sleep=clock.sleep)
    assert limiter.seconds_for(30) == 0
    assert limiter.seconds_for(31) == pytest.approx(30.6)
    for _ in range(10):
        limiter.acquire()
    clock.sleep(5)
    assert limiter.seconds_for(20) == 0
    assert limiter.seconds_for(21) == pytest.approx(25.6)      # the first of the 10 frees its slot
    assert limiter.seconds_for(81) == pytest.approx(25.6 + 2 * 30.6)


def test_version():
    from futu_buybacks import __version__
    result = console("--version")
    assert result.returncode == 0 and result.stdout == f"futu-buybacks {__version__}\n"


def options(parser):
    for action in parser._actions:
        if action.option_strings and action.dest not in ("help", "version"):
            yield action


@pytest.mark.parametrize("parser", [
    lambda: _cli._parser()._subparsers._group_actions[0].choices["fetch"],
    lambda: simulator_main._parser(),
], ids=["fetch", "simulator"])
def test_every_option_says_its_default(parser):
    missing = [action.option_strings[0] for action in options(parser())
               if "default" not in (action.help or "") and not action.required]
    assert missing == []


def test_help_has_no_rest_markup():
    parser = _cli._parser()
    for text in (parser.format_help(), parser._subparsers._group_actions[0].choices["fetch"].format_help()):
        assert "``" not in text and ":func:" not in text


FLOATS = [1000880717.6, 0.1, 1e-300, 123456789.123456789, 5e-324, 1.7976931348623157e308, 2.5, 1 / 3]


@pytest.mark.skipif(not SDKS, reason="no SDK installed")
def test_jsonl_floats_are_the_shortest_repr_that_round_trips(tmp_path):
    records = [{"publ_date": 1775664000 - i, "buy_back_money": value, "percentage": value}
               for i, value in enumerate(FLOATS)]
    records.append({"publ_date": 1, "share_type": "普通股"})  # missing floats: null
    with Simulator(Dataset({"HK.00700": records})) as sim:
        result = console("fetch", "HK.00700", "--port", str(sim.port), "--sdk", SDKS[0], "--no-cache",
                         "--format", "jsonl", "--out-dir", str(tmp_path))
    assert_message(result, 0, "1 code ok")
    lines = (tmp_path / "hk_buy_back_list.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert [row["buy_back_money"] for row in rows[:-1]] == FLOATS
    assert rows[-1]["buy_back_money"] is None and rows[-1]["share_type"] == "普通股"
    assert rows[-1]["end_date"] is None and rows[0]["publ_date"] == 1775664000
    assert f'"buy_back_money": {FLOATS[0]!r}' in lines[0] and '"buy_back_money": 1e-300' in lines[2]
    assert not any(math.isnan(v) for row in rows for v in row.values() if isinstance(v, float))
    seen = [dt.datetime.fromisoformat(row["first_seen"]) for row in rows]  # ISO 8601, with its offset
    assert all(moment.utcoffset() == dt.timedelta(0) for moment in seen)


def test_summary_counts_are_singular_when_one():
    assert _cli.summary(1, 0, 1, 0, "out", 1) == "1 code ok, 0 failed; 1 HK and 0 A-share record in out (1 request)"
    assert _cli.summary(2, 1, 3, 4, "out", 5) == (
        "2 codes ok, 1 failed; 3 HK and 4 A-share records in out (5 requests)")
