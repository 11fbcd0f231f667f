"""``refresh``: the budget, the scheduler's order and its bound (``_schedule.py``, fed values),
what the cache tells it (``Cache.activity``), and a refresh end to end through the real SDK
against the simulator, in Python and on the command line."""

import datetime as dt
import socket
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from futu_buybacks import Cache, InvalidArgument, RateLimiter, load_buybacks, refresh
from futu_buybacks import _schedule as scheduler
from futu_buybacks._cache import CodeActivity
from futu_buybacks._schedule import DAY, HOT, QUIET, UNFINISHED, parse_budget, run_bound, schedule
from futu_buybacks.simulator import Dataset, Simulator, synthetic_records

from conftest import SDKS

UTC8 = dt.timezone(dt.timedelta(hours=8))
#: The evening of the day after the newest synthetic record (synthetic_records: 2026-04-09).
EVENING = dt.datetime(2026, 4, 10, 20, 0, tzinfo=UTC8).timestamp()
MIDNIGHT = dt.datetime(2026, 4, 10, tzinfo=UTC8).timestamp()


def known(code, *, checked_at=EVENING - DAY, newest=None, recent=0, stage=None, plan_end=None, unfinished=False):
    return CodeActivity(code, not unfinished, unfinished, checked_at, newest, recent, stage, plan_end)


# ---- the budget ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, codes, rate, requests", [
    ("25%", 2600, (30, 30.0), 650),
    ("25%", 10, (30, 30.0), 3),          # rounded up: a share of a few codes is at least one
    ("0.01%", 10, (30, 30.0), 1),
    (100, 2600, (30, 30.0), 100),
    ("100", 2600, (30, 30.0), 100),      # what the command line passes
    ("10min", 2600, (30, 30.0), 600),
    ("10 min", 1, (15, 30.0), 300),
    ("90s", 1, (30, 30.0), 90),
    ("2h", 1, (30, 30.0), 7200),
    (dt.timedelta(minutes=10), 1, (10, 30.0), 200),
])
def test_a_budget_is_a_share_requests_or_time_at_the_rate(value, codes, rate, requests):
    assert parse_budget(value).requests(codes, rate) == requests


@pytest.mark.parametrize("value", ["0%", "-5%", 0, -1, True, 2.5, "abc", "10 minutes", "1.5", "%",
                                   dt.timedelta(0), None, "0min"])
def test_a_budget_it_cannot_read_is_refused(value):
    with pytest.raises(InvalidArgument, match="budget must be a share of one request per code"):
        parse_budget(value)


def test_a_bad_budget_is_refused_before_anything_is_opened(tmp_path):
    with socket.socket() as sock:  # nothing listens there: connecting would raise TransportError
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(InvalidArgument, match="budget must be"):
        refresh("HK.00700", port=port, budget="lots", cache=tmp_path / "c.sqlite3")
    with pytest.raises(InvalidArgument, match=r"budget '0.5s' allows no request at 30/30"):
        refresh("HK.00700", port=port, budget="0.5s", cache=tmp_path / "c.sqlite3")
    assert not (tmp_path / "c.sqlite3").exists()


# ---- the order ------------------------------------------------------------------------------------

def test_a_never_fetched_code_comes_first_then_hot_then_quiet():
    codes = ["HK.00001", "HK.00002", "HK.00003", "HK.00004"]
    activity = {"HK.00001": known("HK.00001", newest=MIDNIGHT - 300 * DAY, recent=0),    # quiet
                "HK.00002": known("HK.00002", newest=MIDNIGHT - 2 * DAY, recent=5),      # hot
                "HK.00004": known("HK.00004", unfinished=True, checked_at=None)}          # interrupted
    plan = schedule(codes, activity, budget=3, now=EVENING)
    assert plan.order == ["HK.00003", "HK.00004", "HK.00002", "HK.00001"]
    assert dict(plan.tiers) == {"HK.00001": QUIET, "HK.00002": HOT, "HK.00003": UNFINISHED, "HK.00004": UNFINISHED}
    checked, spent = plan.run(lambda code: 1)
    assert (checked, spent) == (["HK.00003", "HK.00004", "HK.00002"], 3)


def test_hot_codes_are_taken_likeliest_first_and_a_quiet_code_with_history_before_one_without():
    codes = ["HK.00001", "HK.00002", "HK.00003", "HK.00004", "HK.00005"]
    activity = {
        "HK.00001": known("HK.00001"),                                                    # never a record
        "HK.00002": known("HK.00002", newest=MIDNIGHT - 400 * DAY, recent=0),             # had records
        "HK.00003": known("HK.00003", newest=MIDNIGHT - DAY, recent=2),
        "HK.00004": known("HK.00004", newest=MIDNIGHT - DAY, recent=2, checked_at=EVENING - 3 * DAY),
        "HK.00005": known("HK.00005", newest=MIDNIGHT - 10 * DAY, recent=9),
    }
    plan = schedule(codes, activity, budget=10, now=EVENING)
    # expected new records: 9 a day for a day, 2 a day for three days, 2 a day for one
    assert plan.order == ["HK.00005", "HK.00004", "HK.00003", "HK.00002", "HK.00001"]


@pytest.mark.parametrize("stage, plan_end, tier", [
    ("实施", MIDNIGHT + 30 * DAY, HOT),        # implementing, its period not over
    ("董事会预案", MIDNIGHT, HOT),              # the period ends today
    ("实施", MIDNIGHT - DAY, QUIET),            # the period ended yesterday
    ("完成", MIDNIGHT + 30 * DAY, QUIET),       # completed
    ("停止实施", MIDNIGHT + 30 * DAY, QUIET),   # stopped
    ("实施", None, QUIET),                      # no period to go by
])
def test_an_open_a_share_plan_is_hot_without_recent_records(stage, plan_end, tier):
    activity = {"SH.600000": known("SH.600000", newest=MIDNIGHT - 200 * DAY, stage=stage, plan_end=plan_end)}
    assert schedule(["SH.600000"], activity, budget=1, now=EVENING).tiers["SH.600000"] == tier


def test_a_record_of_the_last_92_days_makes_a_code_hot():
    edge = EVENING - scheduler.HOT_DAYS * DAY
    for newest, tier in ((edge, HOT), (edge - 1, QUIET)):
        activity = {"HK.00001": known("HK.00001", newest=newest, recent=1)}
        assert schedule(["HK.00001"], activity, budget=1, now=EVENING).tiers["HK.00001"] == tier


def test_a_code_checked_less_than_fresh_for_ago_is_not_taken():
    activity = {"HK.00001": known("HK.00001", checked_at=EVENING - 600, newest=MIDNIGHT, recent=3),
                "HK.00002": known("HK.00002")}
    plan = schedule(["HK.00001", "HK.00002"], activity, budget=2, now=EVENING, fresh_for=3600)
    assert plan.order == ["HK.00002"] and plan.fresh == ["HK.00001"]
    assert schedule(["HK.00001", "HK.00002"], activity, budget=2, now=EVENING, fresh_for=0).fresh == []


def test_a_code_needing_more_pages_spends_them_and_the_next_codes_get_what_is_left():
    codes = [f"HK.{n:05d}" for n in range(1, 11)]
    plan = schedule(codes, {}, budget=6, now=EVENING)
    assert plan.reserved == {"HK.00001"}  # one fifth of 6, at least one: the first never checked
    checked, spent = plan.run(lambda code: 4 if code == "HK.00002" else 1)
    assert checked == ["HK.00001", "HK.00002", "HK.00003"] and spent == 6


# ---- the bound -------------------------------------------------------------------------------------

def test_the_bound_is_the_codes_over_the_rotations_share():
    assert [run_bound(budget, 100) for budget in (1, 4, 5, 10, 25, 100, 1000)] == [100, 100, 100, 50, 20, 5, 1]
    assert run_bound(0, 100) == 0 and run_bound(10, 0) == 0


def simulate(codes, activity, budget, runs, cost=lambda code, run: 1, news=lambda code, run: False):
    """``runs`` runs a day apart, each check applied to ``activity`` as the cache would record it
    (checked then, fetched, a new record when ``news`` says so); per code the runs it was checked in."""
    activity = dict(activity)
    seen = {code: [] for code in codes}
    for run in range(runs):
        now = EVENING + run * DAY
        plan = schedule(codes, activity, budget=budget, now=now)

        def check(code, run=run, now=now):
            before = activity.get(code) or known(code, checked_at=None)
            newest = now - 3600 * 12 if news(code, run) else before.newest
            activity[code] = before._replace(complete=True, unfinished=False, checked_at=now, newest=newest,
                                             recent=before.recent + news(code, run))
            seen[code].append(run)
            return cost(code, run)

        plan.run(check)
    return seen, plan.bound


def longest_wait(runs_checked, runs):
    """The most runs a code waited for a check (from before the first run, and to after the last)."""
    marks = [-1, *runs_checked, runs]
    return max(b - a for a, b in zip(marks, marks[1:]))


@st.composite
def cache_states(draw):
    count = draw(st.integers(1, 30))
    codes = [f"HK.{i:05d}" if i % 3 else f"SH.{600000 + i}" for i in range(count)]
    activity = {}
    for code in codes:
        kind = draw(st.sampled_from(("never", "unfinished", "hot", "quiet", "plan", "no records")))
        checked = EVENING - draw(st.integers(1, 60)) * DAY
        if kind == "unfinished":
            activity[code] = known(code, unfinished=True, checked_at=draw(st.none() | st.just(checked)))
        elif kind == "hot":
            activity[code] = known(code, checked_at=checked, newest=MIDNIGHT - draw(st.integers(0, 80)) * DAY,
                                   recent=draw(st.integers(1, 40)))
        elif kind == "quiet":
            activity[code] = known(code, checked_at=checked, newest=MIDNIGHT - draw(st.integers(100, 3000)) * DAY)
        elif kind == "plan":
            activity[code] = known(code, checked_at=checked, newest=MIDNIGHT - 200 * DAY, stage="实施",
                                   plan_end=MIDNIGHT + 400 * DAY)
        elif kind == "no records":
            activity[code] = known(code, checked_at=checked)
    budget = draw(st.integers(1, 2 * count))
    return codes, activity, budget


@settings(max_examples=100, deadline=None)
@given(cache_states(), st.integers(0, 2**32 - 1), st.data())
def test_every_code_is_checked_within_the_bound_whatever_is_hot_and_whatever_checks_cost(state, seed, data):
    codes, activity, budget = state
    bound = run_bound(budget, len(codes))
    runs = 3 * bound
    costs = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=7))
    news = data.draw(st.sets(st.integers(0, 30)))
    seen, reported = simulate(codes, activity, budget, runs,
                              cost=lambda code, run: costs[(hash(code) + run + seed) % len(costs)],
                              news=lambda code, run: (run * 7 + len(code) + codes.index(code)) % 31 in news)
    assert reported == bound
    for code in codes:
        assert longest_wait(seen[code], runs) <= bound, (code, seen[code], bound)


def test_hot_codes_filling_the_budget_do_not_starve_a_quiet_one(monkeypatch):
    codes = [f"HK.{n:05d}" for n in range(1, 12)]
    activity = {code: known(code, newest=MIDNIGHT - DAY, recent=20) for code in codes[:10]}
    activity["HK.00011"] = known("HK.00011", newest=MIDNIGHT - 1000 * DAY, checked_at=EVENING - 2 * DAY)
    runs = 30
    seen, bound = simulate(codes, activity, 5, runs, news=lambda code, run: code != "HK.00011")
    assert bound == 11 and longest_wait(seen["HK.00011"], runs) <= bound
    # without the reservation the hot codes take every request, always
    monkeypatch.setattr(scheduler, "rotation_size", lambda budget, codes: 0)
    seen, _ = simulate(codes, activity, 5, runs, news=lambda code, run: code != "HK.00011")
    assert seen["HK.00011"] == []


def test_the_rotation_takes_the_codes_checked_longest_ago_never_checked_first():
    codes = [f"HK.{n:05d}" for n in range(1, 8)]
    activity = {code: known(code, checked_at=EVENING - (10 - i) * DAY, newest=MIDNIGHT - DAY, recent=1)
                for i, code in enumerate(codes[:5])}
    plan = schedule(codes, activity, budget=10, now=EVENING)
    assert plan.rotation == 2 and plan.reserved == {"HK.00006", "HK.00007"}
    plan = schedule(codes[:5], activity, budget=10, now=EVENING)
    assert plan.reserved == {"HK.00001", "HK.00002"}


# ---- what the cache tells the scheduler ---------------------------------------------------------------

def test_the_cache_reports_each_codes_newest_record_recent_ones_and_plan():
    from futu_buybacks._cache import Cache as Store
    store = Store(":memory:")
    hk = synthetic_records("HK.00005", 30)          # newest 2026-04-08 or earlier, a day or more apart
    a = synthetic_records("SH.600519", 3)
    for code, records, complete in (("HK.00005", hk, True), ("SH.600519", a, True), ("HK.00006", hk[:2], False)):
        fetch = store.begin_full_fetch("s", code, EVENING)
        store.store_page(fetch, records, next_key="-1" if complete else "k", now=EVENING)
    facts = store.activity("s", ["HK.00005", "SH.600519", "HK.00006", "HK.00007"], since=MIDNIGHT - 30 * DAY)
    assert set(facts) == {"HK.00005", "SH.600519", "HK.00006"}  # HK.00007 never fetched
    five = facts["HK.00005"]
    assert (five.complete, five.unfinished, five.checked_at) == (True, False, EVENING)
    assert five.newest == max(r["end_date"] for r in hk)
    assert five.recent == sum(1 for r in hk if r["end_date"] >= MIDNIGHT - 30 * DAY) > 0
    assert five.stage is None and five.plan_end is None
    a_newest = max(a, key=lambda r: r["change_date"])
    assert (facts["SH.600519"].stage, facts["SH.600519"].plan_end) == (a_newest["event_proce_desc"],
                                                                        a_newest["end_date"])
    assert facts["HK.00006"].unfinished and not facts["HK.00006"].complete


# ---- end to end --------------------------------------------------------------------------------------

CODES = [f"HK.{n:05d}" for n in range(1, 11)] + ["SH.600000", "SZ.000001"]
HOT_CODES = ["HK.00001", "HK.00002", "SH.600000"]
QUIET_CODES = ["HK.00003", "HK.00004"]          # records, none in the last 92 days


def records_of(code, extra=0):
    """The dataset's records of ``code``, newest first: ``extra`` new ones dated in the two weeks
    before EVENING, then five of the weeks before 20 March 2026 for a hot code, four of a year
    before for a quiet one (the rest: none)."""
    new = synthetic_records(code, extra, newest=dt.date(2026, 4, 10), seed=1)
    if code in HOT_CODES:
        return new + synthetic_records(code, 5, newest=dt.date(2026, 3, 20))
    if code in QUIET_CODES:
        return new + synthetic_records(code, 4, newest=dt.date(2025, 4, 9))
    return new


@pytest.fixture
def world(sdk):
    sim = Simulator(Dataset({code: records_of(code) for code in CODES}, name="refresh"), universe=CODES).start()
    ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
    yield sim, ctx
    ctx.close()
    sim.stop()


@pytest.mark.e2e
@pytest.mark.skipif(not SDKS, reason="no SDK installed")
def test_a_refresh_checks_the_hot_codes_first_and_reports_what_was_new(world, tmp_path):
    sim, ctx = world
    cache = Cache(tmp_path / "c.sqlite3")
    fast = dict(limiter=RateLimiter("1000/1"), universe_limiter=RateLimiter("1000/1"), progress=False)
    first = refresh(ctx=ctx, market="HK,A", cache=cache, budget="100%", clock=lambda: EVENING, **fast)
    assert first.ok and first.checked == CODES and first.skipped == []  # all new: all fetched in full
    assert set(first.tiers.values()) == {UNFINISHED} and first.requests == sim.requests[3235] == 12
    assert first.new_records == sum(len(records_of(code)) for code in CODES) == 23
    # the next day: two new records for each hot code, one for a quiet one
    sim.dataset = Dataset({code: records_of(code, 2 if code in HOT_CODES else code == "HK.00004")
                           for code in CODES}, name="refresh")
    sent = sim.requests[3235]
    report = refresh(ctx=ctx, market="HK,A", cache=cache, budget=4, clock=lambda: EVENING + DAY, **fast)
    assert report.ok and report.budget == 4 and report.requests == sim.requests[3235] - sent == 4
    assert set(report.checked[:3]) == set(HOT_CODES) and report.checked[3] == "HK.00003"  # had records before
    assert [report.tiers[code] for code in report.checked] == [HOT, HOT, HOT, QUIET]
    assert set(report.skipped) == set(CODES) - set(report.checked)
    assert report.new_by_code == {code: 2 for code in HOT_CODES}
    assert report.new_records == sum(report.new_by_code.values())
    assert report.bound == run_bound(4, 12) == 12 and report.source == sim.source
    assert "every code is checked within 12 runs" in str(report) and "new records:\n  HK.00001 +2" in str(report)
    # the quiet code's record is found within the bound, the hot codes' records never wait
    for run in range(2, report.bound + 2):
        if "HK.00004" in report.new_by_code:
            break
        report = refresh(ctx=ctx, market="HK,A", cache=cache, budget=4, clock=lambda run=run: EVENING + run * DAY,
                         **fast)
        assert report.requests <= 4 and set(report.checked[:3]) == set(HOT_CODES)
    assert report.new_by_code.get("HK.00004") == 1
    tables = load_buybacks(CODES, ctx=ctx, offline=True, cache=cache)
    assert len(tables.hk_buy_back_list) + len(tables.a_buy_back_list) == 23 + 7


@pytest.mark.e2e
@pytest.mark.skipif(not SDKS, reason="no SDK installed")
def test_a_code_failing_is_reported_and_tried_again_next_run(world, tmp_path):
    sim, ctx = world
    cache = Cache(tmp_path / "c.sqlite3")
    fast = dict(limiter=RateLimiter("1000/1"), progress=False, retries=0)
    report = refresh(["HK.00001", "HK.99999"], ctx=ctx, cache=cache, budget=5, clock=lambda: EVENING, **fast)
    assert report.errors == {"HK.99999": "unknown stock HK.99999"} and not report.ok
    assert report.checked == ["HK.00001", "HK.99999"] and report.requests == 2
    again = refresh(["HK.00001", "HK.99999"], ctx=ctx, cache=cache, budget=1, clock=lambda: EVENING + DAY, **fast)
    assert again.checked == ["HK.99999"]  # never fetched: first, and the rotation's (the longest unchecked)


# ---- the command line ----------------------------------------------------------------------------------

def cli(*args):
    return subprocess.run([sys.executable, "-m", "futu_buybacks", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.e2e
@pytest.mark.skipif(not SDKS, reason="no SDK installed")
def test_the_command_prints_the_report(world, tmp_path):
    sim, _ = world
    result = cli("refresh", "--market", "HK", "--budget", "50%", "--port", str(sim.port), "--sdk", SDKS[0],
                 "--cache", str(tmp_path / "c.sqlite3"), "--rate", "1000/1")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == ("refresh of simulator:refresh: checked 5 of 10 codes (5 requests, budget 5): "
                        "18 new records in 4 codes; skipped 5; every code is checked within 10 runs")
    assert lines[1] == "checked: 5 unfinished, 0 hot, 0 quiet (the 1 checked longest ago reserved)"
    assert lines[2:] == ["  HK.00001 HK.00002 HK.00003 HK.00004 HK.00005", "new records:",
                         "  HK.00001 +5 HK.00002 +5 HK.00003 +4 HK.00004 +4", "skipped (5):",
                         "  HK.00006 HK.00007 HK.00008 HK.00009 HK.00010"]


def test_the_command_refuses_a_bad_budget_and_an_unreachable_opend(tmp_path, capsys):
    from futu_buybacks._cli import main
    assert main(["refresh", "HK.00700", "--budget", "0%", "--port", "1", "--cache", str(tmp_path / "c")]) == 2
    assert "futu-buybacks: --budget: budget must be a share of one request per code ('25%')" in capsys.readouterr().err
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = cli("refresh", "HK.00700", "--port", str(port), "--cache", str(tmp_path / "c.sqlite3"))
    assert result.returncode == 3
    assert f"futu-buybacks: cannot reach OpenD at 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
