"""Columns of the two buyback frames, declared once for every producer, test and document.

Each column is the snake_case name the SDK uses, the protobuf field it comes from, its kind
(``int``, ``float`` or ``str``: the wire types uint64/int64, double and string) and the
vendor's Chinese name with an English description.  Column order is the SDK's display order,
which is also field-number order.
"""

from typing import NamedTuple, Tuple


class Column(NamedTuple):
    name: str
    field: str
    kind: str  # "int" | "float" | "str"
    zh: str
    description: str


class FrameSchema(NamedTuple):
    key: str          # key of the frame in the method's result dict
    list_field: str   # repeated field of S2C holding the items
    market: str       # "HK" or "A" (SH and SZ)
    columns: Tuple[Column, ...]

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def fields(self) -> Tuple[str, ...]:
        return tuple(c.field for c in self.columns)


_TS = "Unix timestamp in seconds, market time zone"
_DAY = "date YYYY-MM-DD, market time zone"

HK = FrameSchema("hk_buy_back_list", "hkBuyBackList", "HK", (
    Column("publ_date", "publDate", "int", "公告日时间戳", f"announcement date, {_TS}"),
    Column("publ_date_str", "publDateStr", "str", "公告日", f"announcement {_DAY}"),
    Column("end_date", "endDate", "int", "回购截止日时间戳", f"buyback end date, {_TS}"),
    Column("end_date_str", "endDateStr", "str", "回购截止日", f"buyback end {_DAY}"),
    Column("buy_back_money", "buyBackMoney", "float", "回购金额", "amount paid"),
    Column("buy_back_sum", "buyBackSum", "int", "回购股数", "shares bought back"),
    Column("percentage", "percentage", "float", "占总股本比例",
           "share of issued shares, in percent (12.34 means 12.34%)"),
    Column("high_price", "highPrice", "float", "最高回购价", "highest price paid"),
    Column("low_price", "lowPrice", "float", "最低回购价", "lowest price paid"),
    Column("cumulative_sum", "cumulativeSum", "int", "本轮累计回购股数",
           "shares bought back so far in this round"),
    Column("cumulative_percentage", "cumulativePercentage", "float", "本轮累计占总股本比例",
           "share of issued shares bought back so far in this round, in percent"),
    Column("share_type", "shareType", "str", "股份类别", "share class"),
))

A = FrameSchema("a_buy_back_list", "aBuyBackList", "A", (
    Column("change_reg_date", "changeRegDate", "int", "工商变更登记日时间戳",
           f"business registration change date, {_TS}"),
    Column("change_reg_date_str", "changeRegDateStr", "str", "工商变更登记日",
           f"business registration change {_DAY}"),
    Column("change_date", "changeDate", "int", "股份变动日时间戳", f"share change date, {_TS}"),
    Column("change_date_str", "changeDateStr", "str", "股份变动日", f"share change {_DAY}"),
    Column("event_proce_desc", "eventProceDesc", "str", "事件进程描述", "stage of the buyback"),
    Column("advance_date", "advanceDate", "int", "预案公告日时间戳", f"plan announcement date, {_TS}"),
    Column("advance_date_str", "advanceDateStr", "str", "预案公告日", f"plan announcement {_DAY}"),
    Column("meet_pass_date", "meetPassDate", "int", "股东大会通过日时间戳",
           f"shareholders' meeting approval date, {_TS}"),
    Column("meet_pass_date_str", "meetPassDateStr", "str", "股东大会通过日",
           f"shareholders' meeting approval {_DAY}"),
    Column("start_date", "startDate", "int", "回购开始日时间戳", f"buyback start date, {_TS}"),
    Column("start_date_str", "startDateStr", "str", "回购开始日", f"buyback start {_DAY}"),
    Column("end_date", "endDate", "int", "回购截止日时间戳", f"buyback end date, {_TS}"),
    Column("end_date_str", "endDateStr", "str", "回购截止日", f"buyback end {_DAY}"),
    Column("pay_date", "payDate", "int", "支付日时间戳", f"payment date, {_TS}"),
    Column("pay_date_str", "payDateStr", "str", "支付日", f"payment {_DAY}"),
    Column("seller", "seller", "str", "出售方", "seller (holder whose shares are bought back)"),
    Column("buy_back_mode", "buyBackMode", "str", "回购方式", "buyback method"),
    Column("share_type", "shareType", "str", "股份类别", "share class"),
    Column("buy_back_sum", "buyBackSum", "int", "回购股数", "shares bought back"),
    Column("buy_back_money", "buyBackMoney", "float", "回购金额", "amount paid"),
    Column("percentage", "percentage", "float", "占总股本比例",
           "share of issued shares, in percent (12.34 means 12.34%)"),
    Column("value_floor", "valueFloor", "float", "拟回购资金总额下限", "planned amount, lower bound"),
    Column("value_ceiling", "valueCeiling", "float", "拟回购资金总额上限", "planned amount, upper bound"),
    Column("price_floor", "priceFloor", "float", "回购价格下限", "price, lower bound"),
    Column("price_ceiling", "priceCeiling", "float", "回购价格上限", "price, upper bound"),
    Column("volume_floor", "volumeFloor", "float", "拟回购股数下限", "planned shares, lower bound"),
    Column("volume_ceiling", "volumeCeiling", "float", "拟回购股数上限", "planned shares, upper bound"),
))

FRAMES = (HK, A)
#: Market name ("HK", "SH", "SZ") -> the schema of the frame its records fill.
SCHEMA_BY_MARKET = {"HK": HK, "SH": A, "SZ": A}


# ---- research datasets (``_events.py``, ``_panel.py``; docs/datasets.md) ----------------------

class DatasetColumn(NamedTuple):
    name: str
    dtype: str        # a pandas dtype name; "known_at" is the zone-aware type below
    description: str


#: ``known_at``'s type: nanoseconds, in UTC+08:00.  One column holds both markets, so it has one
#: zone: the offset Asia/Hong_Kong and Asia/Shanghai have both kept since 1992 (HK's last summer
#: time was 1979, the mainland's 1991).  Each moment is computed in its market's own zone.
KNOWN_AT_DTYPE = "known_at"
#: The markets of the dataset frames, in the order their rows and codes sort.
DATASET_MARKETS = ("HK", "SH", "SZ")

#: ``events()``'s own columns, before the vendor's.
EVENT_COLUMNS = (
    DatasetColumn("code", "string", "security, MARKET.SYMBOL"),
    DatasetColumn("market", "string", "HK, SH or SZ"),
    DatasetColumn("stage", "string", "execution (HK); board_plan, shareholders_approved, implementing, "
                  "completed, stopped or other (A-share)"),
    DatasetColumn("stage_raw", "string", "the vendor's event_proce_desc (A-share); <NA> for HK"),
    DatasetColumn("event_date", "datetime64[ns]", "the market-local date the record's event happened"),
    DatasetColumn("known_at", KNOWN_AT_DTYPE, "the earliest moment the record was public, by the rule of "
                  "docs/datasets.md"),
    DatasetColumn("shares", "Int64", "buy_back_sum: shares bought back"),
    DatasetColumn("money", "float64", "buy_back_money: amount paid, in the market's currency"),
    DatasetColumn("percentage", "float64", "the vendor's percentage: share of issued shares, in percent"),
    DatasetColumn("price_low", "float64", "HK low_price (paid that day); A-share price_floor (the plan's)"),
    DatasetColumn("price_high", "float64", "HK high_price (paid that day); A-share price_ceiling (the plan's)"),
)
#: The last column of ``events()``: when the cache first stored that version of the record.
FIRST_SEEN = DatasetColumn("first_seen", "datetime64[ns, UTC]",
                           "when the cache first stored this version of the record; NaT if unknown")


def event_vendor_columns() -> Tuple[Column, ...]:
    """The vendor's columns of either market as ``events()`` carries them: HK's in HK's order,
    then A-share's others in A-share's order; ``percentage`` is already one of ours."""
    ours = {c.name for c in EVENT_COLUMNS}
    seen, out = set(), []
    for column in HK.columns + A.columns:
        if column.name not in ours and column.name not in seen:
            seen.add(column.name)
            out.append(column)
    return tuple(out)


#: The per-session quantities of ``daily_panel()`` (and, with ``_W``, each window's sums).
PANEL_AMOUNTS = (
    DatasetColumn("shares", "float64", "shares bought back, by the records that became known at this session"),
    DatasetColumn("money", "float64", "money paid, by those records, in the market's currency"),
    DatasetColumn("percentage", "float64", "their percentages of issued shares, summed"),
    DatasetColumn("records", "int64", "how many records became known at this session"),
)
#: The per-market quantities of ``market_series()`` (and each window's).
MARKET_SERIES_AMOUNTS = (
    DatasetColumn("companies", "int64", "codes with a record of shares or money bought back"),
    DatasetColumn("records", "int64", "records that became known"),
    DatasetColumn("money", "float64", "money paid, in the market's currency"),
)


def windowed_columns(amounts: Tuple[DatasetColumn, ...], windows: Tuple[int, ...]) -> Tuple[DatasetColumn, ...]:
    """``amounts``, then for each window ``NAME_W`` (the sum over the last W sessions)."""
    return amounts + tuple(DatasetColumn(f"{c.name}_{w}", c.dtype, f"{c.description}, over the last {w} sessions")
                           for w in windows for c in amounts)
