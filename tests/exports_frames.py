"""Frames for the export tests, built by hand in the shapes ``load_buybacks``, ``events`` and
``daily_panel`` return (the last two are specified, not imported: the exports must not depend on
their exact columns)."""

import numpy as np
import pandas as pd

from futu_buybacks import BuybackTables
from futu_buybacks._schema import HK, A
from futu_buybacks._tidy import tidy_frame

HKT = "Asia/Hong_Kong"


def unix(day: str, zone: str = HKT) -> int:
    """The vendor's ``*_date``: Unix seconds of midnight in the market's zone."""
    return int(pd.Timestamp(day, tz=zone).timestamp())


FIRST_SEEN = pd.Timestamp("2026-04-10 01:02:03.456789", tz="UTC")


def _row(schema, code, **values):
    """A row as the cache returns it: code, the columns, when the cache first stored it."""
    return (code, *(values.get(name) for name in schema.names), FIRST_SEEN.timestamp())


def records(first_seen: bool = True) -> BuybackTables:
    """HK records in 2025 and 2026 (one on 1 January: 2025 in UTC, 2026 in Hong Kong), A-share
    records of SH and SZ, one without ``change_date`` (filed under its ``start_date``)."""
    hk = tidy_frame(HK, [
        _row(HK, "HK.00700", publ_date=unix("2026-04-09"), end_date=unix("2026-04-09"), end_date_str="2026-04-09",
             buy_back_money=1000880717.6, buy_back_sum=1964000, percentage=0.021373, share_type="普通股"),
        _row(HK, "HK.00700", publ_date=unix("2026-01-02"), end_date=unix("2026-01-01"), end_date_str="2026-01-01",
             buy_back_money=1e-300, buy_back_sum=None, percentage=None, share_type="普通股"),
        _row(HK, "HK.01810", publ_date=unix("2025-12-31"), end_date=None,
             buy_back_money=2.5, buy_back_sum=7, share_type=None),
    ])
    a = tidy_frame(A, [
        _row(A, "SH.600519", change_date=unix("2026-03-02", "Asia/Shanghai"), event_proce_desc="实施",
             advance_date=unix("2025-12-09", "Asia/Shanghai"), buy_back_sum=2053000, buy_back_money=1110262400.0),
        _row(A, "SZ.000001", change_date=None, start_date=unix("2025-11-03", "Asia/Shanghai"),
             event_proce_desc="董事会预案", price_floor=None, price_ceiling=17.03),
    ])
    if not first_seen:  # frames from elsewhere, without the cache's column
        hk, a = hk.drop(columns="first_seen"), a.drop(columns="first_seen")
    return BuybackTables(hk, a, source="simulator:test")


def events() -> pd.DataFrame:
    """One row per event, both markets; ``known_at`` in UTC: HK.01810's became public at 01:30 on
    1 January 2026 in Hong Kong, still 2025 in UTC."""
    frame = pd.DataFrame({
        "code": pd.array(["HK.00700", "HK.01810", "SH.600519", "SZ.000001"], dtype="string"),
        "market": pd.array(["HK", "HK", "SH", "SZ"], dtype="string"),
        "stage": pd.array(["executed", "executed", "executed", "plan"], dtype="string"),
        "stage_raw": pd.array([None, None, "实施", "董事会预案"], dtype="string"),
        "event_date": pd.to_datetime(["2026-04-09", "2025-12-31", "2026-03-02", "2025-11-03"]),
        "known_at": pd.to_datetime(["2026-04-09 10:30", "2025-12-31 17:30", "2026-03-02 12:00",
                                    "2025-11-03 11:00"]).tz_localize("UTC"),
        "shares": pd.array([1964000, 7, 2053000, None], dtype="Int64"),
        "money": [1000880717.6, 2.5, 1110262400.0, np.nan],
        "percentage": [0.021373, np.nan, 0.0171, np.nan],
        "price_low": [503.0, np.nan, np.nan, 10.48],
        "price_high": [514.5, np.nan, np.nan, 17.03],
        "share_type": pd.array(["普通股", None, "A股", "A股"], dtype="string"),
    })
    return frame


CODES = ["HK.00700", "HK.01810", "SH.600519", "SZ.000001"]


def panel() -> pd.DataFrame:
    """Sessions across the turn of the year for four codes, amounts float64, counts int64."""
    dates = pd.bdate_range("2025-12-29", "2026-01-06")
    index = pd.MultiIndex.from_product([dates, CODES], names=["date", "code"])
    rng = np.random.default_rng(14)
    records = rng.integers(0, 3, len(index))
    frame = pd.DataFrame({
        "shares": np.where(records > 0, rng.integers(1, 10**6, len(index)), 0).astype("float64"),
        "money": np.where(records > 0, rng.random(len(index)) * 1e9, 0.0),
        "percentage": np.where(records > 0, rng.random(len(index)) / 10, 0.0),
        "records": records.astype("int64"),
    }, index=index)
    rolling = frame.groupby(level="code").rolling(20, min_periods=1).sum().droplevel(0).reindex(index)
    for name in ("shares", "money", "percentage", "records"):
        frame[f"{name}_20"] = rolling[name].astype(frame[name].dtype)
    return frame
