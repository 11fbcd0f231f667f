"""The synthetic market: deterministic by seed, records the simulator accepts, the model's rules
(HK streaks within a mandate, A-share plans through their stages), amendments, and a world
replayed session by session; served to the real SDK and loaded back unchanged."""

import ast
import collections
import dataclasses
import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from futu_buybacks.simulator import Dataset, MarketModel, Simulator, SyntheticMarket, synthetic_market
from futu_buybacks.simulator._dataset import record_problem
from futu_buybacks.simulator._market import APPROVAL, COMPLETED, IMPLEMENTING, PLAN, STOPPED, weekday_sessions

from conftest import SDKS

ZONE = dt.timezone(dt.timedelta(hours=8))
ORDER = {PLAN: 0, APPROVAL: 1, IMPLEMENTING: 2, COMPLETED: 3, STOPPED: 3}
AMOUNTS = ("buy_back_sum", "buy_back_money", "percentage")


@pytest.fixture(scope="module")
def market():
    """6 years of 160 codes, most of them active so that every rule is exercised."""
    return SyntheticMarket(160, start="2020-01-01", seed=11, active=0.6, amended=0.05)


def day(seconds):
    return dt.datetime.fromtimestamp(seconds, ZONE).date()


def chronological(market, code):
    return market.records(code)[::-1]


def test_deterministic_by_seed_and_independent_of_the_other_codes(market):
    some = [code for code in market.codes if market.records(code)][::8]
    alone = SyntheticMarket(some, start="2020-01-01", seed=11, active=0.6, amended=0.05)
    assert alone.records_until(market.end) == {code: market.records(code) for code in some}
    assert alone.amendments == [a for a in market.amendments if a.code in some]
    again = SyntheticMarket(some, start="2020-01-01", seed=11, active=0.6, amended=0.05)
    assert again.records_until(market.end) == alone.records_until(market.end) and again.name == alone.name
    other = SyntheticMarket(some, start="2020-01-01", seed=12, active=0.6, amended=0.05)
    assert other.records_until(market.end) != alone.records_until(market.end) and other.name != alone.name


def test_every_version_of_every_record_is_valid(market):
    dataset = market.dataset()  # Dataset checks each record with record_problem
    assert isinstance(dataset, Dataset) and dataset.name == market.name and set(dataset.records) == set(market.codes)
    for when in sorted({a.date for a in market.amendments})[:20]:
        for change in market.changes(when):
            assert record_problem(change.code, change.record) is None
    pair = ["HK.00001", "SZ.000001"]
    assert synthetic_market(pair, start="2020-01-01", seed=11, active=0.6, amended=0.05).records == \
        {code: market.records(code) for code in pair}


def test_most_codes_of_a_realistic_universe_have_no_records():
    small = SyntheticMarket(400, start="2024-01-01", end="2024-12-31", seed=1)
    share = sum(bool(rows) for rows in small.records_until(small.end).values()) / 400
    assert 0.15 < share < 0.40  # active=0.3, as a binomial draw of 400 companies
    assert all(small.records(code) == [] for code in small.codes if not small.records(code))
    assert len(SyntheticMarket(300, seed=1, active=0.0).plans) == 0


def test_hk_daily_records_follow_the_disclosure_rules(market):
    calendar = list(market.calendar("HK").date)
    position = {d: i for i, d in enumerate(calendar)}
    codes = [code for code in market.codes if code.startswith("HK") and market.records(code)]
    assert len(codes) > 30
    for code in codes:
        rows = market.records(code)
        assert [r["publ_date"] for r in rows] == sorted((r["publ_date"] for r in rows), reverse=True)
        previous = None
        for row in rows[::-1]:
            trade, published = day(row["end_date"]), day(row["publ_date"])
            assert row["end_date_str"] == trade.isoformat() and row["publ_date_str"] == published.isoformat()
            assert row["end_date"] < row["publ_date"] and position[published] == position[trade] + 1
            assert 0 < row["low_price"] <= row["high_price"] and 0.4 <= row["low_price"] and row["high_price"] <= 700
            assert row["buy_back_sum"] * row["low_price"] - 0.01 <= row["buy_back_money"] \
                <= row["buy_back_sum"] * row["high_price"] + 0.01
            assert row["share_type"] == "普通股" and row["cumulative_percentage"] <= 10.0
            if previous is not None and row["cumulative_sum"] != row["buy_back_sum"]:  # the same mandate round
                assert row["cumulative_sum"] == previous["cumulative_sum"] + row["buy_back_sum"]
                assert row["cumulative_percentage"] >= previous["cumulative_percentage"]
            previous = row


def test_hk_cumulative_percentage_is_of_the_round_issued_shares(market):
    for code in [c for c in market.codes if c.startswith("HK")]:
        rounds, current = [], []
        for row in chronological(market, code):
            if row["cumulative_sum"] == row["buy_back_sum"] and current:
                rounds.append(current)
                current = []
            current.append(row)
        for rows in rounds + [current] if current else rounds:
            # percent per share, from the largest figure (rounded to 5 decimals), and its uncertainty
            last = rows[-1]["cumulative_sum"]
            per_share, slack = rows[-1]["cumulative_percentage"] / last, 6e-6 / last
            for r in rows:
                cumulative, shares = r["cumulative_sum"], r["buy_back_sum"]
                assert abs(r["cumulative_percentage"] - cumulative * per_share) <= 6e-6 + cumulative * slack
                assert abs(r["percentage"] - shares * per_share) <= 6e-7 + shares * slack


def runs(positions):
    lengths, last = [], None
    for p in positions:
        if last is not None and p == last + 1:
            lengths[-1] += 1
        else:
            lengths.append(1)
        last = p
    return lengths


def test_hk_programmes_buy_on_streaks_of_consecutive_sessions():
    # a calendar with holes: streaks run over them, since they are counted in sessions
    weekdays = weekday_sessions("2018-01-01", "2021-12-31")
    sessions = weekdays[~((weekdays.day_of_week == 4) & (weekdays.isocalendar().week.to_numpy() % 3 == 0))]
    world = SyntheticMarket([f"HK.{i:05d}" for i in range(1, 41)], start="2018-01-01", end="2021-12-31", seed=5,
                            sessions=sessions, active=1.0, hk_streak=(5.0, 5.0), hk_gap=(12.0, 12.0),
                            hk_blackout_days=0, hk_mandate_use=1.0, amended=0.0)
    position = {d: i for i, d in enumerate(sessions.date)}
    lengths = []
    for code in world.codes:
        trades = [position[day(r["end_date"])] for r in chronological(world, code)]
        lengths += runs(trades)
    assert len(lengths) > 1000
    assert 4.0 < np.mean(lengths) < 5.5  # geometric streaks of mean 5, some cut by a programme's end
    assert np.mean(np.array(lengths) == 1) == pytest.approx(0.2, abs=0.05)  # P(length 1) = 1/5
    # the ground truth says the same: every streak is a run of consecutive sessions, and records one a session
    streaks = [(p.code, a, b) for p in world.programmes for a, b in p.streaks if b < sessions[-1]]
    for code, first, last in streaks[:300]:
        bought = [r for r in world.records(code) if first.date() <= day(r["end_date"]) <= last.date()]
        assert len(bought) == position[last.date()] - position[first.date()] + 1 > 0


def test_hk_blackout_before_results_and_the_mandate_limit():
    codes = [f"HK.{i:05d}" for i in range(1, 41)]
    world = SyntheticMarket(codes, start="2018-01-01", end="2020-12-31", seed=2, active=1.0, hk_mandate_use=1.0,
                            hk_mandate_limit=0.002, amended=0.0)
    rounds = collections.Counter()
    for code in world.codes:
        for row in world.records(code):
            assert row["cumulative_percentage"] <= 0.2 + 1e-9
            rounds[row["cumulative_sum"] == row["buy_back_sum"]] += 1
    assert rounds[True] > 3 and rounds[False] > 0  # rounds start again at each AGM
    assert all(p.shares <= p.issued * 0.002 for p in world.programmes)

    # results fall on 10..31 March and 10..31 August: the 30 days before cover 1..9 March and
    # 1..9 August (day of year 60..68 and 213..221) whatever the company's day
    def trades_in_every_blackout(market):
        days = pd.DatetimeIndex([day(r["end_date"]) for c in codes for r in market.records(c)])
        return int(np.isin(days.day_of_year, [*range(60, 69), *range(213, 222)]).sum())

    assert trades_in_every_blackout(world) == 0
    assert trades_in_every_blackout(SyntheticMarket(codes, start="2018-01-01", end="2020-12-31", seed=2, active=1.0,
                                                    hk_mandate_use=1.0, hk_blackout_days=0, amended=0.0)) > 20


def a_plans(market):
    for code in market.codes:
        if code.startswith("HK"):
            continue
        plans = collections.defaultdict(list)
        for row in chronological(market, code):
            plans[row["advance_date"]].append(row)
        yield from plans.values()


def test_a_plans_move_through_their_stages_in_order(market):
    seen = collections.Counter()
    for rows in a_plans(market):
        stages = [r["event_proce_desc"] for r in rows]
        seen.update(stages)
        # the plan's record, approved or not, then progress reports, then at most one outcome
        assert stages[0] in (PLAN, APPROVAL) and stages.count(PLAN) + stages.count(APPROVAL) == 1
        assert [ORDER[s] for s in stages] == sorted(ORDER[s] for s in stages)
        assert sum(s in (COMPLETED, STOPPED) for s in stages) <= 1
    assert all(seen[stage] > 0 for stage in ORDER)
    history = [a for a in market.amendments if a.fields.get("event_proce_desc") == APPROVAL]
    assert history and all(a.previous["event_proce_desc"] == PLAN and a.previous["meet_pass_date"] is None
                           for a in history)


def test_a_fields_by_stage_and_dates_in_order(market):
    for rows in a_plans(market):
        approval = [r for r in rows if r["event_proce_desc"] == APPROVAL]
        if "start_date" not in rows[0]:  # awaiting its shareholders' meeting when the period ends
            assert rows == rows[:1] and rows[0]["event_proce_desc"] == PLAN
            assert (market.end - pd.Timestamp(day(rows[0]["advance_date"]))).days < 60
            continue
        for row in rows:
            stage = row["event_proce_desc"]
            assert row["share_type"] == "A股" and row["buy_back_mode"] == "集中竞价"
            assert row["value_floor"] <= row["value_ceiling"] and row["volume_floor"] <= row["volume_ceiling"]
            assert row.get("price_floor", 0) < row["price_ceiling"]
            assert ("change_date" in row) == (stage not in (PLAN, APPROVAL))
            if stage in (PLAN, APPROVAL):
                assert not any(k in row for k in AMOUNTS)
            if stage in (IMPLEMENTING, COMPLETED):
                assert all(k in row for k in AMOUNTS)
                assert row["buy_back_money"] <= row["value_ceiling"] * 1.05
            if approval and stage != PLAN:
                assert row["meet_pass_date"] == approval[0]["meet_pass_date"] == row["start_date"]
                assert row["advance_date"] < row["meet_pass_date"]
            if approval and stage == PLAN:
                assert "start_date" not in row and "meet_pass_date" not in row
            if not approval:
                assert "meet_pass_date" not in row and row["start_date"] == row["advance_date"]
            if "start_date" in row:
                assert row["start_date"] < row["end_date"]
            if "change_date" in row:
                assert row["change_date"] > row["start_date"]
            if stage == COMPLETED:
                assert row["end_date"] < row["change_date"]   # the last purchase, announced after
            for name in ("advance_date", "meet_pass_date", "start_date", "end_date", "change_date"):
                if name in row:
                    assert row[name + "_str"] == day(row[name]).isoformat()


def test_a_amounts_grow_through_the_progress_reports(market):
    reports = 0
    for rows in a_plans(market):
        amounts = [tuple(r.get(k, 0) for k in AMOUNTS) for r in rows]
        assert amounts == sorted(amounts)
        dates = [r.get("change_date", r.get("meet_pass_date", r["advance_date"])) for r in rows]
        assert dates == sorted(set(dates))
        reports += sum(r["event_proce_desc"] == IMPLEMENTING for r in rows)
    assert reports > 100


def test_a_plan_ground_truth_matches_the_records(market):
    for plan in market.plans[:200]:
        rows = [r for r in chronological(market, plan.code) if day(r["advance_date"]) == plan.announced.date()]
        assert rows[0]["value_ceiling"] == plan.value[1] and rows[0]["price_ceiling"] == plan.price_ceiling
        if plan.outcome is not None:
            assert rows[-1]["event_proce_desc"] == plan.outcome
            assert rows[-1].get("buy_back_sum", 0) == plan.shares
            assert day(rows[-1]["change_date"]) == plan.closed.date()


def test_amendments_correct_a_records_first_version(market):
    assert len(market.amendments) > 20
    for amendment in market.amendments[:50]:
        before = market.records(amendment.code, amendment.date - pd.Timedelta(days=1))
        after = market.records(amendment.code, amendment.date)
        old = [r for r in before if market.identity(amendment.code, r) == amendment.identity]
        new = [r for r in after if market.identity(amendment.code, r) == amendment.identity]
        assert len(old) == len(new) == 1
        assert {k: old[0].get(k) for k in amendment.fields} == amendment.previous != amendment.fields
        assert {k: new[0][k] for k in amendment.fields} == amendment.fields
        assert {k: v for k, v in old[0].items() if k not in amendment.fields} == \
            {k: v for k, v in new[0].items() if k not in amendment.fields}
        assert any(c.kind == "amended" and c.code == amendment.code for c in market.changes(amendment.date))
    for amendment in market.amendments[::5]:
        (row,) = [r for r in market.records(amendment.code) if market.identity(amendment.code, r) == amendment.identity]
        assert {k: row[k] for k in amendment.fields} == amendment.fields


def test_a_world_replayed_session_by_session_knows_what_the_market_knew():
    world = SyntheticMarket(60, start="2023-01-01", end="2023-12-31", seed=4, active=0.8, amended=0.1)
    known = {code: {} for code in world.codes}
    sessions = world.calendar("HK").union(world.calendar("SH")).union(world.calendar("SZ"))
    checkpoints = set(sessions[::50]) | {sessions[-1]}
    for session in sessions:
        for change in world.changes(session):
            identity = world.identity(change.code, change.record)
            assert (identity in known[change.code]) == (change.kind == "amended")
            known[change.code][identity] = change.record
        if session in checkpoints:
            expected = world.records_until(session)
            for code in world.codes:
                assert sorted(map(repr, known[code].values())) == sorted(map(repr, expected[code]))
    assert world.changes("2023-01-01") == []  # a Sunday


def test_sessions_per_market_and_refusals():
    hk = weekday_sessions("2020-01-01", "2020-12-31")
    world = SyntheticMarket(["HK.00001", "SH.600000"], start="2020-01-01", end="2020-12-31",
                            sessions={"HK": hk[hk.month != 7]}, active=1.0)
    assert not (world.calendar("HK").month == 7).any() and (world.calendar("SH").month == 7).any()
    assert all(day(r["end_date"]).month != 7 for r in world.records("HK.00001"))
    with pytest.raises(ValueError, match=r"sessions has markets \['A'\]"):
        SyntheticMarket(2, sessions={"A": hk})
    with pytest.raises(ValueError, match="before start"):
        SyntheticMarket(2, start="2020-01-02", end="2020-01-01")
    with pytest.raises(TypeError):
        SyntheticMarket(2, no_such_parameter=1)


@pytest.mark.e2e
@pytest.mark.skipif(not SDKS, reason="no SDK installed")
def test_served_to_the_sdk_and_loaded_back_unchanged(tmp_path):
    from futu_buybacks import load_buybacks
    from futu_buybacks._schema import HK, A

    world = SyntheticMarket(20, start="2022-01-01", end="2025-12-31", seed=8, active=0.5)
    dataset = world.dataset()
    with Simulator(dataset) as sim:
        tables = load_buybacks(world.codes, host=sim.host, port=sim.port, cache=tmp_path / "c.sqlite3",
                               rate="1000/1", progress=False)
    assert tables.ok and tables.source == f"simulator:{world.name}"
    for schema, frame in ((HK, tables.hk_buy_back_list), (A, tables.a_buy_back_list)):
        codes = [c for c in world.codes if (c[:2] == "HK") == (schema is HK)]
        assert len(frame) == sum(len(dataset.records[c]) for c in codes) > 0
        for code, group in frame.groupby("code", sort=False):
            rows = group.drop(columns=["code", "first_seen"]).to_dict("records")
            assert len(rows) == len(dataset.records[code])
            for row, record in zip(rows, dataset.records[code]):
                assert {k: v for k, v in row.items() if not pd.isna(v)} == record


def quiet_command(monkeypatch):
    """The simulator's command, run in this process without configuring its logging."""
    import logging

    from futu_buybacks.simulator import __main__ as command

    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)
    return command


def test_the_command_refuses_bad_market_options(capsys, monkeypatch):
    main = quiet_command(monkeypatch).main

    for argv, message in ((["--market", "--start", "nope"], "--market: "),
                          (["--market", "--start", "2021-01-01", "--end", "2020-01-01"], "is before start"),
                          (["--market", "--codes", "0"], "at least 1, got '0'"),
                          (["--market", "--active", "1.5"], "from 0 to 1, got '1.5'"),
                          (["--market", "--data", "x.jsonl"], "not allowed with argument"),
                          (["--seed", "3", "--codes", "9"], "--codes, --seed choose the synthetic market")):
        with pytest.raises(SystemExit) as exit_:
            main([*argv, "--port", "0"])
        assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.e2e
@pytest.mark.skipif(not SDKS, reason="no SDK installed")
def test_the_command_serves_the_market(capsys, monkeypatch):
    import re
    import types

    from futu_buybacks import load_buybacks

    command = quiet_command(monkeypatch)
    loaded = []

    def serve_once(seconds):  # the command's wait for Ctrl-C: load from it, then press Ctrl-C
        line = capsys.readouterr().out
        address = re.search(r"listening on ([\d.]+):(\d+) \(16 codes synthetic market, seed 3, 2024-01-01 to "
                            r"2025-12-31, (\d+) with records\)", line)
        assert address, line
        loaded.append((int(address.group(3)), load_buybacks(
            [f"HK.{i:05d}" for i in range(1, 9)] + ["SH.600000"], host=address.group(1),
            port=int(address.group(2)), cache=False, rate="1000/1", progress=False)))
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "time", types.SimpleNamespace(sleep=serve_once))
    assert command.main(["--market", "--codes", "16", "--seed", "3", "--start", "2024-01-01", "--active", "0.5",
                         "--port", "0"]) == 0
    world = SyntheticMarket(16, start="2024-01-01", seed=3, active=0.5)
    ((with_records, tables),) = loaded
    assert with_records == sum(bool(world.records(c)) for c in world.codes)
    assert tables.ok and tables.source == f"simulator:{world.name}"
    assert len(tables.hk_buy_back_list) + len(tables.a_buy_back_list) == \
        sum(len(world.records(c)) for c in [f"HK.{i:05d}" for i in range(1, 9)] + ["SH.600000"]) > 0


def test_the_documented_parameters_are_the_model():
    text = (Path(__file__).resolve().parents[1] / "docs" / "simulator.md").read_text(encoding="utf-8")
    table = text.split("**Parameters**")[1].split("**Cost.**")[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", table, flags=re.M)
    assert [(name, ast.literal_eval(default.strip())) for name, default in rows] == \
        [(field.name, field.default) for field in dataclasses.fields(MarketModel)]
