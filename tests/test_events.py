"""futu_buybacks.events(): one frame for both markets, and the known_at rule of docs/datasets.md."""

import datetime as dt

import pandas as pd
import pytest

import futu_buybacks
from futu_buybacks import BuybackTables, Cache, InvalidArgument, events
from futu_buybacks._events import DEFAULT_LAG, STAGES, event_dtypes
from futu_buybacks._schema import EVENT_COLUMNS, HK, A, event_vendor_columns
from futu_buybacks._tidy import tidy_frame

HKT, CST = "Asia/Hong_Kong", "Asia/Shanghai"
FETCHED = pd.Timestamp("2026-04-20 18:00", tz=HKT)


def seconds(day, zone):
    """Unix seconds of a local midnight, as the vendor sends dates."""
    return int(pd.Timestamp(day, tz=zone).timestamp())


def hk(code="HK.00700", trade=None, published=None, **fields):
    record = {"buy_back_sum": 1000, "buy_back_money": 500_000.0, "percentage": 0.01, "high_price": 501.0,
              "low_price": 499.0, "share_type": "普通股", **fields}
    if trade:
        record.update(end_date=seconds(trade, HKT), end_date_str=trade)
    if published:
        record.update(publ_date=seconds(published, HKT), publ_date_str=published)
    return code, record


def ashare(code="SH.600519", stage="董事会预案", **dates):
    record = {"event_proce_desc": stage, "buy_back_sum": 2000, "buy_back_money": 3e6, "percentage": 0.02,
              "price_floor": 100.0, "price_ceiling": 150.0}
    for name, day in dates.items():
        record.update({name: seconds(day, CST), f"{name}_str": day})
    return code, record


def tables(*records, first_seen=None):
    """The loader's frames of ``records``; ``first_seen`` as the cache gives it (NaT if None)."""
    seen = None if first_seen is None else pd.Timestamp(first_seen).timestamp()
    frames = []
    for schema in (HK, A):
        rows = [(code, *[r.get(n) for n in schema.names], seen) for code,
                r in records if (code[:2] == "HK") == (schema is HK)]
        frames.append(tidy_frame(schema, rows))
    return BuybackTables(*frames)


def known(*records, **kwargs):
    kwargs.setdefault("fetched_at", FETCHED)
    return events(tables(*records), **kwargs)


def local(moment, zone=HKT):
    return pd.Timestamp(moment, tz=zone)


# ---- HK: Listing Rule 10.06(4)(a) -------------------------------------------------------------

@pytest.mark.parametrize("trade, published, expected", [
    ("2026-04-14", "2026-04-15", "2026-04-15 08:30"),  # Tuesday, published Wednesday morning
    ("2026-04-14", "2026-04-14", "2026-04-15 08:30"),  # published the same evening: usable the next day
    ("2026-04-10", "2026-04-13", "2026-04-13 08:30"),  # Friday, published Monday: timely
    ("2026-04-14", "2026-04-17", "2026-04-18 08:30"),  # late: published at an unknown hour of Friday
    ("2026-04-14", None, "2026-04-15 08:30"),          # no announcement date: the rule's deadline
    (None, "2026-04-15", "2026-04-16 08:30"),          # no trade date: the end of the announcement day
])
def test_hk_record_is_known_by_the_morning_after_its_trade_date(trade, published, expected):
    frame = known(hk(trade=trade, published=published))
    assert frame["stage"].tolist() == ["execution"] and frame["stage_raw"].isna().all()
    assert frame["known_at"].iloc[0] == local(expected)
    if trade:
        assert frame["event_date"].iloc[0] == pd.Timestamp(trade)
    else:
        assert pd.isna(frame["event_date"].iloc[0])


def test_lag_moves_known_at_per_market():
    records = (hk(trade="2026-04-14", published="2026-04-15"), ashare(advance_date="2026-04-14"))
    default = known(*records).set_index("market")["known_at"]
    assert default["HK"] == local("2026-04-15 08:30") and default["SH"] == local("2026-04-15 00:00", CST)
    later = known(*records, lag={"HK": "1D"}).set_index("market")["known_at"]
    assert later["HK"] == local("2026-04-16 00:00") and later["SH"] == default["SH"]
    every = known(*records, lag=dt.timedelta(hours=2)).set_index("market")["known_at"]
    assert every["HK"] == local("2026-04-15 02:00") and every["SH"] == local("2026-04-14 02:00", CST)


@pytest.mark.parametrize("lag", [dt.timedelta(hours=-1), "-1h", "soon", True, {"US": "1D"}, {"HK": None}])
def test_bad_lag_is_refused(lag):
    with pytest.raises(InvalidArgument, match="lag"):
        known(hk(trade="2026-04-14"), lag=lag)


# ---- A-share: stages ----------------------------------------------------------------------------

def test_every_listed_stage_text_and_unknown_texts():
    texts = [*STAGES, " 实施 ", "国资委批准", ""]
    frame = known(*[ashare(stage=text, advance_date="2026-01-05", meet_pass_date="2026-01-20") for text in texts])
    got = dict(zip(frame["stage_raw"], frame["stage"]))
    assert {text: got[text] for text in STAGES} == STAGES
    assert got[" 实施 "] == "implementing" and got["国资委批准"] == "other" and got[""] == "other"
    assert set(STAGES.values()) == {"board_plan", "shareholders_approved", "implementing", "completed", "stopped"}


def test_a_share_board_plan_and_approval_are_known_from_their_announcements():
    frame = known(ashare(stage="董事会预案", advance_date="2026-03-02"),
                  ashare(code="SZ.000001", stage="股东大会通过", advance_date="2026-03-02",
                         meet_pass_date="2026-03-20"))
    rows = frame.set_index("code")
    assert rows.loc["SH.600519", "event_date"] == pd.Timestamp("2026-03-02")
    assert rows.loc["SH.600519", "known_at"] == local("2026-03-03 00:00", CST)       # the end of the day
    assert rows.loc["SZ.000001", "event_date"] == pd.Timestamp("2026-03-20")
    assert rows.loc["SZ.000001", "known_at"] == local("2026-03-22 00:00", CST)       # the resolution's next day, ended


@pytest.mark.parametrize("stage", ["实施", "完成", "停止实施", "国资委批准"])
def test_a_share_progress_is_known_when_it_was_fetched(stage):
    seen = pd.Timestamp("2026-04-18 07:00", tz="UTC")
    frame = events(tables(ashare(stage=stage, advance_date="2025-12-01", start_date="2026-01-05",
                                 change_date="2026-03-31", end_date="2026-12-31"), first_seen=seen))
    assert frame["known_at"].iloc[0] == seen
    assert frame["event_date"].iloc[0] == pd.Timestamp("2026-03-31")  # the deadline, in the future, is not used
    assert frame["first_seen"].iloc[0] == seen


def test_known_at_is_never_after_the_fetch_and_dates_after_the_fetch_day_are_not_used():
    seen = pd.Timestamp("2026-03-02 12:00", tz=CST)  # the plan fetched on its announcement day
    frame = events(tables(ashare(advance_date="2026-03-02"), hk(trade="2026-03-01", published="2026-03-02"),
                          hk(code="HK.00005", trade="2026-03-05"), first_seen=seen))
    rows = frame.set_index("code")
    assert rows.loc["SH.600519", "known_at"] == seen                     # not the end of that day
    assert rows.loc["HK.00700", "known_at"] == local("2026-03-02 08:30")
    assert rows.loc["HK.00005", "known_at"] == seen and pd.isna(rows.loc["HK.00005", "event_date"])


def test_first_seen_wins_over_fetched_at_and_a_missing_one_falls_back():
    seen = pd.Timestamp("2026-01-10 01:00", tz="UTC")
    given = tables(ashare(stage="实施", change_date="2026-01-05"), first_seen=seen)
    given.a_buy_back_list.loc[0, "first_seen"] = pd.NaT
    frame = events(given, fetched_at=pd.Timestamp("2026-02-01", tz="UTC"))
    assert frame["known_at"].iloc[0] == pd.Timestamp("2026-02-01", tz="UTC")
    before = pd.Timestamp.now(tz="UTC")
    frame = events(tables(ashare(stage="实施", change_date="2026-01-05")))
    assert before <= frame["known_at"].iloc[0] <= pd.Timestamp.now(tz="UTC")
    assert frame["first_seen"].isna().all()


@pytest.mark.parametrize("fetched_at", ["2026-01-01", pd.Timestamp("2026-01-01"), "yesterday", 5.5])
def test_fetched_at_must_be_timezone_aware(fetched_at):
    with pytest.raises(InvalidArgument, match="fetched_at must be a timezone-aware moment"):
        events(tables(hk(trade="2026-04-14")), fetched_at=fetched_at)


# ---- the frame ----------------------------------------------------------------------------------

def test_columns_dtypes_and_order_do_not_depend_on_the_data():
    expected = event_dtypes()
    names = [c.name for c in EVENT_COLUMNS] + [c.name for c in event_vendor_columns()] + ["first_seen"]
    assert list(expected) == names and len(set(names)) == len(names)
    assert {c.name for c in HK.columns + A.columns} <= set(names)
    for frame in (known(), known(hk(trade="2026-04-14")), known(ashare(advance_date="2026-01-02")),
                  known(hk(trade="2026-04-14"), ashare(advance_date="2026-01-02"))):
        assert frame.dtypes.to_dict() == {name: pd.api.types.pandas_dtype(d) for name, d in expected.items()}
    assert str(expected["known_at"]) == "datetime64[ns, UTC+08:00]"


def test_rows_are_in_known_at_order_and_carry_the_vendor_columns():
    frame = known(hk(code="HK.00005", trade="2026-04-14", published="2026-04-15"),
                  ashare(code="SZ.000001", advance_date="2026-04-13"),
                  hk(code="HK.00003", trade="2026-04-14", published="2026-04-15"),
                  ashare(code="SH.600000", advance_date="2026-04-16"))
    assert frame["code"].tolist() == ["SZ.000001", "HK.00003", "HK.00005", "SH.600000"]
    assert frame["market"].tolist() == ["SZ", "HK", "HK", "SH"]
    assert frame["known_at"].is_monotonic_increasing
    row = frame.set_index("code").loc["HK.00003"]
    assert (row["shares"], row["money"], row["price_low"], row["price_high"]) == (1000, 500_000.0, 499.0, 501.0)
    assert row["publ_date_str"] == "2026-04-15" and pd.isna(row["advance_date"])
    plan = frame.set_index("code").loc["SH.600000"]
    assert (plan["price_low"], plan["price_high"], plan["event_proce_desc"]) == (100.0, 150.0, "董事会预案")


def test_input_that_is_not_the_loaders_is_refused():
    with pytest.raises(InvalidArgument, match="BuybackTables"):
        events({"hk_buy_back_list": None})
    broken = tables(hk(trade="2026-04-14"))
    broken.hk_buy_back_list = broken.hk_buy_back_list.drop(columns=["publ_date"])
    with pytest.raises(InvalidArgument, match="lacks the columns"):
        events(broken)
    with pytest.raises(InvalidArgument, match="source= chooses"):
        events(tables(), source="simulator:sample")


def test_events_of_a_cache_read_its_only_source_or_the_one_asked(tmp_path):
    with Cache(tmp_path / "c.sqlite3") as cache:
        with pytest.raises(InvalidArgument, match="holds 0 data sources"):
            events(cache)
        for source, code, trade in (("simulator:a", "HK.00700", "2026-04-14"), ("simulator:b", "HK.00005",
                                                                                "2026-04-15")):
            fetched = pd.Timestamp(FETCHED).timestamp()  # the cache's first_seen
            fetch = cache.begin_full_fetch(source, code, fetched)
            cache.store_page(fetch, [hk(code=code, trade=trade)[1]], next_key="-1", now=fetched)
            if source == "simulator:a":
                assert events(cache)["code"].tolist() == ["HK.00700"]
        with pytest.raises(InvalidArgument, match="pass source="):
            events(cache)
        with pytest.raises(InvalidArgument, match="has no source 'simulator:c'"):
            events(cache, source="simulator:c")
        frame = events(cache, source="simulator:b")
        assert frame["code"].tolist() == ["HK.00005"] and frame["known_at"].iloc[0] == local("2026-04-16 08:30")


def test_events_is_exported():
    assert futu_buybacks.events is events and DEFAULT_LAG["HK"] == dt.timedelta(hours=8, minutes=30)
