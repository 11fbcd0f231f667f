"""daily_panel() and market_series(): what was known at each session's open, point in time."""

import sys
import types

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_events import FETCHED, ashare, hk, tables

import futu_buybacks
from futu_buybacks import InvalidArgument, daily_panel, events, market_series
from futu_buybacks._panel import opens_utc
from futu_buybacks._schema import MARKET_SERIES_AMOUNTS, PANEL_AMOUNTS, windowed_columns

HK_DAYS = pd.bdate_range("2026-03-02", "2026-03-31").delete([4, 10])      # two HK holidays
A_DAYS = pd.bdate_range("2026-03-02", "2026-03-31").delete([7])           # another mainland one
CALENDARS = {"HK": HK_DAYS, "SH": A_DAYS, "SZ": A_DAYS}
ZONES = {"HK": "Asia/Hong_Kong", "SH": "Asia/Shanghai", "SZ": "Asia/Shanghai"}
CODES = ["HK.00005", "HK.00700", "SH.600519", "SZ.000001"]


def event_frame(rows):
    """A frame of events()'s columns that the panel reads: (code, known_at, shares, money, percentage)."""
    frame = pd.DataFrame(rows, columns=["code", "known_at", "shares", "money", "percentage"])
    known = pd.to_datetime(frame["known_at"])  # text in HK time, or moments
    frame["known_at"] = known.dt.tz_localize("Asia/Hong_Kong") if known.dt.tz is None else known
    frame["market"] = frame["code"].str.slice(0, 2)
    return frame.astype({"shares": "Int64", "money": "float64", "percentage": "float64"})


def opens(market):
    return pd.DatetimeIndex(opens_utc(CALENDARS[market], market)).tz_localize("UTC")


def known_between(frame, code, window):
    """Per session of ``code``'s market: its records known after the open ``window`` sessions
    before (after the first session's midnight, for the first ones), by that session's open;
    counted and their shares summed, by brute force over the records."""
    market = code[:2]
    session_opens = opens(market).asi8
    earliest = pd.Timestamp(CALENDARS[market][0]).tz_localize(ZONES[market]).value - 1
    low = np.concatenate([np.full(min(window, len(session_opens)), earliest), session_opens[:-window]])
    mine = frame[frame["code"] == code]
    known = pd.DatetimeIndex(mine["known_at"]).as_unit("ns").asi8
    inside = (known[None, :] > low[:, None]) & (known[None, :] <= session_opens[:, None])
    return inside.sum(axis=1), inside @ mine["shares"].fillna(0).to_numpy(dtype=float)


moments = st.datetimes(min_value=pd.Timestamp("2026-02-25").to_pydatetime(),
                       max_value=pd.Timestamp("2026-04-03").to_pydatetime())
records = st.lists(st.tuples(st.sampled_from(CODES), moments, st.integers(0, 10**6) | st.none(),
                             st.floats(0, 1e9) | st.none(), st.floats(0, 5)), max_size=40)


@settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(records, st.sampled_from([(1,), (3,), (2, 5), (100,), ()]))
def test_a_record_counts_from_the_first_session_whose_open_is_at_or_after_its_known_at(rows, windows):
    """The point-in-time rule: a record is absent from every session whose open is before its
    known_at and present from the first one at or after it (in the windows holding it)."""
    frame = event_frame([(code, pd.Timestamp(moment, tz="Asia/Hong_Kong"), shares, money, pct)
                         for code, moment, shares, money, pct in rows])
    windows = tuple(dict.fromkeys(windows + (100,)))  # 100 sessions: everything since the calendar's first
    panel = daily_panel(frame, "2026-03-01", "2026-03-31", calendar=CALENDARS, windows=windows, dense=True, codes=CODES)
    of_code = panel.index.get_level_values("code")
    for code in CODES:
        rows_of_code = panel[of_code == code]
        assert rows_of_code.index.get_level_values("date").equals(CALENDARS[code[:2]])
        for window, suffix in ((1, ""), *((w, f"_{w}") for w in windows)):
            count, shares = known_between(frame, code, window)
            np.testing.assert_array_equal(rows_of_code[f"records{suffix}"].to_numpy(), count)
            np.testing.assert_allclose(rows_of_code[f"shares{suffix}"].to_numpy(), shares, rtol=1e-12)


def test_dense_and_sparse_panels_share_their_rows_and_contract():
    frame = event_frame([("HK.00700", "2026-03-03 00:30", 100, 1e6, 0.1), ("SH.600519", "2026-03-09 10:00", 5, 2e5,
                                                                           0.2),
                         ("SH.600519", "2026-03-10 01:00", None, None, 0.1), ("HK.00700", "2026-03-03 01:00", 50, 4e5,
                                                                              0.0)])
    dense = daily_panel(frame, "2026-03-02", "2026-03-31", calendar=CALENDARS, windows=(3, 10), dense=True)
    sparse = daily_panel(frame, "2026-03-02", "2026-03-31", calendar=CALENDARS, windows=(3, 10))
    names = [c.name for c in windowed_columns(PANEL_AMOUNTS, (3, 10))]
    for panel in (dense, sparse):
        assert list(panel.columns) == names == ["shares", "money", "percentage", "records", "shares_3", "money_3",
                                                "percentage_3", "records_3", "shares_10", "money_10",
                                                "percentage_10", "records_10"]
        assert {str(d) for n, d in panel.dtypes.items() if n.startswith("records")} == {"int64"}
        assert {str(d) for n, d in panel.dtypes.items() if not n.startswith("records")} == {"float64"}
        assert panel.index.names == ["date", "code"] and panel.index.is_monotonic_increasing
        assert str(panel.index.levels[0].dtype) == "datetime64[ns]" and panel.index.levels[0].tz is None
        assert all(isinstance(c, str) for c in panel.index.get_level_values("code"))
    assert len(dense) == len(HK_DAYS) + len(A_DAYS)
    zero = (dense == 0).all(axis=1)
    pd.testing.assert_frame_equal(sparse, dense[~zero])
    # the HK record at 08:30 HKT on the 3rd is known at the 3rd's open; the SH one at 10:00 on the 9th, at the 10th's
    assert dense.loc[(pd.Timestamp("2026-03-03"), "HK.00700"), ["shares", "money", "records"]].tolist() == [150,
                                                                                                            1.4e6, 2]
    assert dense.loc[(pd.Timestamp("2026-03-09"), "SH.600519"), "records"] == 0
    tenth = dense.loc[(pd.Timestamp("2026-03-10"), "SH.600519")]
    assert (tenth["records"], tenth["shares"], tenth["money"]) == (2, 5.0, 2e5)  # unset amounts add nothing
    # each code only on its market's sessions: 2026-03-06 is an HK holiday here, not a mainland one
    assert (pd.Timestamp("2026-03-06"), "HK.00700") not in dense.index
    assert (pd.Timestamp("2026-03-06"), "SH.600519") in dense.index


def test_windows_at_the_start_count_the_sessions_before_it():
    frame = event_frame([("HK.00700", "2026-03-04 08:30", 10, 1.0, 0.0), ("HK.00700", "2026-03-18 08:30", 20, 2.0,
                                                                          0.0)])
    panel = daily_panel(frame, "2026-03-16", "2026-03-19", calendar=HK_DAYS, windows=(5,), dense=True)
    assert panel.index.get_level_values("date").tolist() == list(pd.to_datetime(["2026-03-17", "2026-03-18",
                                                                                 "2026-03-19"]))
    assert panel["records"].tolist() == [0, 1, 0]
    assert panel["shares_5"].tolist() == [0.0, 20.0, 20.0]
    assert daily_panel(frame, "2026-03-05", "2026-03-05", calendar=HK_DAYS, windows=(5,),
                       dense=True)["shares_5"].tolist() \
        == [10.0]


def test_codes_given_cover_codes_without_records_and_leave_others_out():
    frame = event_frame([("HK.00700", "2026-03-03 08:30", 10, 1.0, 0.0), ("HK.00005", "2026-03-03 08:30", 10, 1.0,
                                                                          0.0)])
    panel = daily_panel(frame, "2026-03-02", "2026-03-04", calendar=CALENDARS, dense=True, codes=["SZ.000001",
                                                                                                  "HK.00700"],
                        windows=())
    assert sorted(set(panel.index.get_level_values("code"))) == ["HK.00700", "SZ.000001"]
    assert panel.xs("SZ.000001", level="code")["records"].tolist() == [0, 0, 0]
    with pytest.raises(InvalidArgument, match="code market"):
        daily_panel(frame, "2026-03-02", "2026-03-04", calendar=CALENDARS, codes=["US.AAPL"])
    empty = daily_panel(frame.iloc[:0], "2026-03-02", "2026-03-04", calendar=CALENDARS)
    assert len(empty) == 0 and list(empty.columns)[:4] == ["shares", "money", "percentage", "records"]


def test_panel_of_events_from_the_loaders_frames():
    """events() -> daily_panel(): an HK trade counts the morning after, an A-share plan the day after
    its announcement."""
    frame = events(tables(hk(trade="2026-03-05", published="2026-03-06"), ashare(advance_date="2026-03-09")),
                   fetched_at=FETCHED)
    panel = daily_panel(frame, "2026-03-01", "2026-03-31", calendar=CALENDARS, windows=(2,))
    assert panel.index.tolist() == [(pd.Timestamp("2026-03-09"), "HK.00700"), (pd.Timestamp("2026-03-10"), "HK.00700"),
                                    (pd.Timestamp("2026-03-10"), "SH.600519"), (pd.Timestamp("2026-03-12"),
                                                                                "SH.600519")]
    assert panel["records"].tolist() == [1, 0, 1, 0]  # 03-06 is an HK holiday here; 03-11 a mainland one


@pytest.mark.parametrize("kwargs, message", [
    ({"windows": (0,)}, "windows must be distinct ints >= 1"), ({"windows": (5, 5)}, "distinct"),
    ({"windows": 20}, "windows"), ({"windows": (2.5,)}, "windows"), ({"dense": "yes"}, "dense must be True or False"),
    ({"start": "2026-04-01"}, "is after end"), ({"start": "someday"}, "start must be a date"),
    ({"calendar": {"HK": HK_DAYS}}, "no sessions for market SH"), ({"calendar": {"XX": HK_DAYS}}, "accepted keys"),
    ({"calendar": 5}, "calendar must be None"), ({"calendar": "opend"}, "pass ctx="),
    ({"calendar": "NOPE"}, "not an exchange_calendars name"),
])
def test_bad_arguments_are_refused(kwargs, message):
    frame = event_frame([("HK.00700", "2026-03-03 08:30", 10, 1.0, 0.0), ("SH.600519", "2026-03-03 08:30", 1, 1.0,
                                                                          0.0)])
    arguments = {"start": "2026-03-02", "end": "2026-03-31", "calendar": CALENDARS, **kwargs}
    with pytest.raises(InvalidArgument, match=message):
        daily_panel(frame, **arguments)


def test_events_must_be_events_frames():
    with pytest.raises(InvalidArgument, match="events must be the frame"):
        daily_panel(pd.DataFrame({"code": []}), "2026-03-02", "2026-03-31", calendar=HK_DAYS)
    naive = event_frame([("HK.00700", "2026-03-03 08:30", 10, 1.0, 0.0)])
    naive["known_at"] = naive["known_at"].dt.tz_localize(None)
    with pytest.raises(InvalidArgument, match="timezone-aware"):
        daily_panel(naive, "2026-03-02", "2026-03-31", calendar=HK_DAYS)


# ---- calendars ----------------------------------------------------------------------------------

def test_exchange_calendars_by_default_each_market_its_own():
    pytest.importorskip("exchange_calendars")
    frame = event_frame([("HK.00700", "2024-02-08 08:30", 1, 1.0, 0.0), ("SZ.000001", "2024-02-08 08:30", 1, 1.0, 0.0)])
    panel = daily_panel(frame, "2024-02-01", "2024-02-29", windows=(250,), dense=True)
    hk_days = set(panel.xs("HK.00700", level="code").index)
    sz_days = set(panel.xs("SZ.000001", level="code").index)
    assert pd.Timestamp("2024-02-12") not in hk_days and pd.Timestamp("2024-02-14") in hk_days  # Lunar New Year, HKEX
    assert pd.Timestamp("2024-02-14") not in sz_days and pd.Timestamp("2024-02-19") in sz_days  # Spring Festival week
    assert daily_panel(frame, "2024-02-01", "2024-02-29", calendar="XSHE", dense=True).equals(
        daily_panel(frame, "2024-02-01", "2024-02-29", calendar="XSHG", dense=True))


def test_a_missing_exchange_calendars_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "exchange_calendars", None)
    frame = event_frame([("HK.00700", "2026-03-03 08:30", 10, 1.0, 0.0)])
    with pytest.raises(ImportError, match=r"pip install 'futu-buybacks\[calendars\]'"):
        daily_panel(frame, "2026-03-02", "2026-03-31")
    assert len(daily_panel(frame, "2026-03-02", "2026-03-31", calendar=HK_DAYS)) > 0  # a DatetimeIndex needs nothing


def test_opend_calendar_asks_the_trading_days_module_per_market(monkeypatch):
    asked = []

    def opend_sessions(ctx, market, start, end):
        asked.append((ctx, market, start, end))
        return CALENDARS[market]

    monkeypatch.setitem(sys.modules, "futu_buybacks._trading_days",
                        types.SimpleNamespace(opend_sessions=opend_sessions))
    frame = event_frame([("HK.00700", "2026-03-03 08:30", 10, 1.0, 0.0), ("SH.600519", "2026-03-03 08:30", 1, 1.0, 0.0),
                         ("SZ.000001", "2026-03-04 08:30", 1, 1.0, 0.0)])
    ctx = object()
    got = daily_panel(frame, "2026-03-02", "2026-03-31", calendar="opend", ctx=ctx, windows=(3,), dense=True)
    assert got.equals(daily_panel(frame, "2026-03-02", "2026-03-31", calendar=CALENDARS, windows=(3,), dense=True))
    assert [(c, m) for c, m, _, _ in asked] == [(ctx, "HK"), (ctx, "SH")]  # SZ: the same mainland calendar
    assert all(start < pd.Timestamp("2026-03-02") and end == pd.Timestamp("2026-03-31") for _, _, start, end in asked)


def test_opend_calendar_without_the_trading_days_module_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "futu_buybacks._trading_days", None)
    frame = event_frame([("HK.00700", "2026-03-03 08:30", 10, 1.0, 0.0)])
    with pytest.raises(InvalidArgument, match="needs futu_buybacks._trading_days"):
        daily_panel(frame, "2026-03-02", "2026-03-31", calendar="opend", ctx=object())


# ---- market series ------------------------------------------------------------------------------

def test_market_series_counts_companies_buying_and_their_money():
    frame = event_frame([("HK.00700", "2026-03-03 08:30", 10, 1e6, 0.0), ("HK.00700", "2026-03-03 08:30", 5, 2e6, 0.0),
                         ("HK.00005", "2026-03-04 08:30", 7, 3e6, 0.0), ("SH.600519", "2026-03-03 08:30", None, None,
                                                                         0.0),
                         ("SZ.000001", "2026-03-05 08:30", 1, 4e6, 0.0)])
    series = market_series(frame, "2026-03-02", "2026-03-31", calendar=CALENDARS, windows=(2,))
    assert list(series.columns) == [c.name for c in windowed_columns(MARKET_SERIES_AMOUNTS, (2,))]
    assert series.index.names == ["date", "market"] and series.index.is_monotonic_increasing
    assert len(series) == len(HK_DAYS) + 2 * len(A_DAYS)
    third, fourth = series.xs(pd.Timestamp("2026-03-03")), series.xs(pd.Timestamp("2026-03-04"))
    assert third.loc["HK", ["companies", "records", "money"]].tolist() == [1, 2, 3e6]
    assert third.loc["SH", ["companies", "records"]].tolist() == [0, 1]  # a plan without amounts is not buying
    assert fourth.loc["HK", ["companies", "companies_2", "records_2", "money_2"]].tolist() == [1, 2, 3, 6e6]
    assert series.xs(pd.Timestamp("2026-03-05")).loc["SZ", "companies"] == 1
    assert series["companies"].dtype == np.int64 and series["money"].dtype == np.float64


def test_panel_functions_are_exported():
    assert futu_buybacks.daily_panel is daily_panel and futu_buybacks.market_series is market_series


def test_a_record_known_at_the_open_counts_at_that_session_and_one_later_at_the_next():
    at_open = pd.Timestamp("2026-03-03 09:30", tz="Asia/Hong_Kong")
    frame = event_frame([("HK.00700", at_open, 1, 1.0, 0.0), ("HK.00005", at_open + pd.Timedelta(1, "ns"), 1, 1.0, 0.0),
                         ("HK.00003", pd.Timestamp("2026-03-01 23:59:59", tz="Asia/Hong_Kong"), 1, 1.0, 0.0)])
    panel = daily_panel(frame, "2026-03-02", "2026-03-31", calendar=HK_DAYS, windows=(30,))
    assert panel[panel["records"] > 0].index.tolist() == [(pd.Timestamp("2026-03-03"), "HK.00700"),
                                                          (pd.Timestamp("2026-03-04"), "HK.00005")]
    # before the calendar's first day: it may belong to an earlier session, so it is not counted
    assert "HK.00003" not in panel.index.get_level_values("code")
