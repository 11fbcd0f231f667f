"""A simulator world that advances by session: ``Simulator(world=SyntheticMarket(...))``,
``sim.advance()``; the real SDK sees each session's records, amendments as changed values."""

import contextlib
import io
import logging
import re
import threading
import types
from pathlib import Path

import pandas as pd
import pytest

from futu_buybacks import load_buybacks
from futu_buybacks._ratelimit import RateLimiter
from futu_buybacks._schema import SCHEMA_BY_MARKET
from futu_buybacks.simulator import Simulator, SyntheticMarket
from futu_buybacks.simulator._server import WORLD_START

from conftest import SDKS, shim_context_class

needs_sdk = pytest.mark.skipif(not SDKS, reason="no SDK installed")


@pytest.fixture(scope="module")
def world():
    """Two years of 50 codes, most active, many amendments: something changes most sessions."""
    return SyntheticMarket(50, start="2023-01-01", end="2024-12-31", seed=5, active=0.8, amended=0.2)


def served(ctx, code, whole=True):
    """``code``'s records as the SDK returns them (its first page, unless ``whole``: all of
    them, on one page), each without its unset columns."""
    ret, data = ctx.get_corporate_actions_buybacks(code, num=50)
    assert ret == 0, data
    assert data["next_key"] == "-1" or not whole
    frame = data[SCHEMA_BY_MARKET[code[:2]].key]
    return [{k: v for k, v in row.items() if not pd.isna(v)} for row in frame.to_dict("records")]


def first_session_with(world, kind, after):
    """The first session after ``after`` on which a change of ``kind`` became known, and it."""
    for day in world.sessions():
        if day > after:
            found = [change for change in world.changes(day) if change.kind == kind]
            if found:
                return day, found[0]
    raise AssertionError(f"no {kind} change after {after}")


@pytest.mark.e2e
@needs_sdk
@pytest.mark.parametrize("cache_replies", [False, True], ids=["encoded-each-time", "reply-cache"])
def test_after_advance_the_sdk_sees_the_new_records(sdk, world, cache_replies):
    start = world.sessions()[300]
    day, change = first_session_with(world, "new", start)
    with Simulator(world=world, session=day - pd.Timedelta(days=1), cache_replies=cache_replies) as sim:
        ctx = shim_context_class(sdk)(host=sim.host, port=sim.port)
        try:
            before = served(ctx, change.code)
            assert change.record not in before and before == world.records(change.code, sim.session)
            while sim.session < day:
                sim.advance()
            after = served(ctx, change.code)
        finally:
            ctx.close()
    assert after == world.records(change.code, day) and change.record in after
    assert len(after) == len(before) + sum(c.code == change.code and c.kind == "new" for c in world.changes(day))


def test_advancing_session_by_session_is_the_world_at_each_session(world):
    sessions = world.sessions()
    with Simulator(world=world, session=sessions[400]) as sim:
        assert sim.dataset.records == world.records_until(sessions[400])
        for at in range(401, 431):
            changes = sim.advance()
            assert sim.session == sessions[at] and changes == world.changes(sessions[at])
            assert sim.dataset.records == world.records_until(sessions[at])
        changes = sim.advance(7)  # several at once: every change of them, in order
        assert changes == [c for day in sessions[431:438] for c in world.changes(day)] != []
        assert sim.dataset.records == world.records_until(sessions[437])


@pytest.mark.e2e
@needs_sdk
def test_an_amendment_shows_up_as_the_changed_value(sdk, world):
    amendment = next(a for a in world.amendments if a.date > world.sessions()[300] and "buy_back_money" in a.fields)
    sessions = world.sessions()
    before = sessions[sessions.get_loc(amendment.date) - 1]
    with Simulator(world=world, session=before) as sim:
        ctx = shim_context_class(sdk)(host=sim.host, port=sim.port)
        try:
            old = [r for r in served(ctx, amendment.code) if world.identity(amendment.code, r) == amendment.identity]
            changes = sim.advance()
            new = [r for r in served(ctx, amendment.code) if world.identity(amendment.code, r) == amendment.identity]
        finally:
            ctx.close()
    assert old[0]["buy_back_money"] == amendment.previous["buy_back_money"] != amendment.fields["buy_back_money"]
    assert new[0]["buy_back_money"] == amendment.fields["buy_back_money"]
    assert len(old) == len(new) == 1
    assert any(c.kind == "amended" and c.code == amendment.code and c.record == new[0] for c in changes)


def test_where_a_world_starts_and_past_its_end(world):
    sessions = world.sessions()
    assert Simulator(world=world).session == sessions[int(len(sessions) * WORLD_START)]
    assert Simulator(world=world, session="2024-06-02").session == pd.Timestamp("2024-05-31")  # a Sunday: Friday's
    sim = Simulator(world=world, session=sessions[-3])
    with pytest.raises(ValueError, match=r"cannot advance 3 sessions from 2024-12-27: the world ends on "
                                         r"2024-12-31, 2 sessions on"):
        sim.advance(3)
    assert sim.session == sessions[-3]  # nothing moved
    sim.advance(2)
    with pytest.raises(ValueError, match="cannot advance 1 session from 2024-12-31: .* 0 sessions on"):
        sim.advance()
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="sessions must be an int >= 1"):
            sim.advance(bad)
    with pytest.raises(ValueError, match="outside the world's sessions, 2023-01-02 to 2024-12-31"):
        Simulator(world=world, session="2025-01-02")
    with pytest.raises(ValueError, match="a dataset or a world, not both"):
        Simulator(world.dataset(), world=world)
    with pytest.raises(ValueError, match="give world= too"):
        Simulator(session="2024-01-02")
    plain = Simulator(world.dataset())
    assert plain.session is None
    with pytest.raises(ValueError, match="serves a dataset, not a world"):
        plain.advance()


@pytest.mark.e2e
@needs_sdk
def test_it_lists_the_world_and_stays_one_source(sdk, world, tmp_path):
    cache = tmp_path / "c.sqlite3"
    with Simulator(world=world, session=world.sessions()[350]) as sim:
        ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
        try:
            ret, stocks = ctx.get_stock_basicinfo(sdk.Market.HK, sdk.SecurityType.STOCK)
            assert ret == 0 and sorted(stocks["code"]) == [c for c in world.codes if c.startswith("HK")]
            first = load_buybacks(world.codes, ctx, cache=cache, limiter=RateLimiter("1000/1"))
            changes = sim.advance(5)
            again = load_buybacks(world.codes, ctx, cache=cache, limiter=RateLimiter("1000/1"),
                                  fresh_for=pd.Timedelta(0))
        finally:
            ctx.close()
    assert first.source == again.source == f"simulator:{world.name}" == sim.source
    assert again.requests == len(world.codes)  # one page each: the cache knew every code
    new = [c for c in changes if c.kind == "new"]
    assert len(again.hk_buy_back_list) + len(again.a_buy_back_list) == \
        len(first.hk_buy_back_list) + len(first.a_buy_back_list) + len(new) > 0


@pytest.mark.e2e
@needs_sdk
def test_requests_answered_while_it_advances_see_one_session(sdk, world):
    sessions = world.sessions()
    code = max(world.codes, key=lambda c: sum(c == ch.code for day in sessions[300:340] for ch in world.changes(day)))
    versions = [world.records(code, day)[:50] for day in sessions[300:341]]
    seen, stop = [], threading.Event()
    with Simulator(world=world, session=sessions[300]) as sim:
        ctx = shim_context_class(sdk)(host=sim.host, port=sim.port)

        def ask():
            try:
                while not stop.is_set():
                    seen.append(served(ctx, code, whole=False))
            except BaseException as exc:  # reported by the assertion below, not as a thread's warning
                seen.append(exc)

        asker = threading.Thread(target=ask)
        asker.start()
        try:
            for _ in range(40):
                sim.advance()
        finally:
            stop.set()
            asker.join()
            ctx.close()
    assert seen and all(rows in versions for rows in seen)
    assert versions[-1] != versions[0]


def test_the_command_advances_a_market_world(capsys, monkeypatch):
    from futu_buybacks.simulator import __main__ as command

    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)
    for argv, message in ((["--advance-every", "1"], "--advance-every choose the synthetic market: add --market"),
                          (["--market", "--advance-every", "0"], "a positive number of seconds, got '0'")):
        with pytest.raises(SystemExit) as exit_:
            command.main([*argv, "--port", "0"])
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    waits = []

    def sleep(seconds):  # the command's wait between sessions: after two sessions, press Ctrl-C
        waits.append(seconds)
        if len(waits) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(command, "time", types.SimpleNamespace(sleep=sleep))
    args = ["--market", "--codes", "16", "--seed", "3", "--start", "2024-01-01", "--active", "0.5"]
    assert command.main([*args, "--advance-every", "2.5", "--port", "0"]) == 0
    world = SyntheticMarket(16, start="2024-01-01", seed=3, active=0.5)
    sessions = world.sessions()
    at = int(len(sessions) * WORLD_START)
    lines = capsys.readouterr().out.splitlines()
    assert f"at {sessions[at].date()}, one session on every 2.5 s" in lines[0] and waits == [2.5] * 3
    for line, day in zip(lines[1:], sessions[at + 1:at + 3]):
        new = sum(c.kind == "new" for c in world.changes(day))
        assert line == f"session {day.date()}: {new} new, {len(world.changes(day)) - new} amended records"
    assert len(lines) == 3


@pytest.mark.e2e
@pytest.mark.skipif("futu" not in SDKS, reason="futu-api not installed")
def test_the_docs_example_prints_what_the_docs_say():
    text = (Path(__file__).resolve().parents[1] / "docs" / "simulator.md").read_text(encoding="utf-8")
    section = text.split("## A world that advances by session")[1].split("\n## ")[0]
    code, shown = re.search(r"```python\n(.*?)```\n```\n(.*?)```", section, flags=re.S).groups()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/simulator.md", "exec"), {})
    assert [line for line in out.getvalue().splitlines() if re.match(r"\d{4}-\d\d-\d\d \[", line)] == \
        shown.splitlines()


@pytest.mark.e2e
@needs_sdk
def test_records_stored_as_the_world_gives_them_are_what_a_load_stores(sdk, world, tmp_path):
    """What benchmarks/refresh_catch.py relies on: its warm cache and in-process pages store the
    world's records directly, as a load through the SDK would."""
    from futu_buybacks import Cache
    from futu_buybacks._schema import HK, A

    session = world.sessions()[350]
    with Simulator(world=world, session=session) as sim:
        ctx = sdk.OpenQuoteContext(host=sim.host, port=sim.port)
        try:
            load_buybacks(world.codes, ctx, cache=tmp_path / "loaded.sqlite3", limiter=RateLimiter("1000/1"))
        finally:
            ctx.close()
    with Cache(tmp_path / "direct.sqlite3") as direct:
        for code in world.codes:
            direct.store_page(direct.begin_full_fetch(sim.source, code, 0.0), world.records(code, session),
                              next_key="-1", now=0.0)
        with Cache(tmp_path / "loaded.sqlite3") as loaded:
            for schema in (HK, A):
                rows = [row[:-1] for row in direct.rows(schema, sim.source)]  # without first_seen
                assert rows == [row[:-1] for row in loaded.rows(schema, sim.source)] and rows
