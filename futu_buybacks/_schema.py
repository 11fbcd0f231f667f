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
