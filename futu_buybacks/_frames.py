"""Reading repeated buyback items into the SDK's DataFrames (no I/O): the reference and the choice.

``oracle_frame`` is the native method's algorithm written out plainly: one dict per item
holding only the fields the server set, then ``pd.DataFrame(rows, columns=...)``.  Its result
is the definition of "identical to the vendor": a missing field is NaN, an int column with a
NaN is float64, a column missing from every row is all-NaN float64, strings are whatever pandas
infers (object on pandas 2, ``str`` on pandas 3), an empty list gives object columns.

``vendor_frames`` produces the same frames through ``_fastframe`` (several times faster), which
checks itself against the oracle on first use per pandas configuration: if anything differs (a
pandas release that infers differently, a changed internal API) it is switched off and every
frame comes from the oracle.  Data the fast path does not handle goes to the oracle too.
"""

import logging
from typing import Any, Dict, Iterable, Sequence

import pandas as pd

from ._fastframe import TWIN_ROWS, Unsupported, empty_from_blocks, fast_frame, merge_lists, string_option
from ._schema import FrameSchema

log = logging.getLogger("futu_buybacks")


def oracle_frame(items: Iterable[Any], schema: FrameSchema) -> pd.DataFrame:
    """The native algorithm, spelled out: one dict per item holding only the set fields."""
    rows = []
    for item in items:
        rows.append({c.name: getattr(item, c.field) for c in schema.columns if item.HasField(c.field)})
    return pd.DataFrame(rows, columns=list(schema.names))


def empty_frame(schema: FrameSchema) -> pd.DataFrame:
    """The frame of a reply without items: the columns, no rows (object dtype, as native)."""
    if _fast_enabled():
        return empty_from_blocks(schema)
    return pd.DataFrame([], columns=list(schema.names))


# ---- choosing the path ---------------------------------------------------------------------------
_fast_checked: Dict[Any, bool] = {}  # per pandas string option: the fast path agrees with the oracle


def _self_check() -> bool:
    """Run both paths on probes covering every inference case; True if they agree exactly."""
    from ._messages import response_class
    from ._schema import HK, A
    response = response_class(3235)()
    a = response.s2c.aBuyBackList
    first = a.add()
    first.changeDate, first.eventProceDesc, first.buyBackMoney, first.buyBackSum = 1, "实施", 2.5, 7
    second = a.add()
    second.changeDate, second.eventProceDesc, second.payDateStr = 0, "", "2026-04-09"
    hk = response.s2c.hkBuyBackList.add()
    hk.publDate, hk.shareType = 3, "普通股"
    columns = merge_lists(response.s2c)
    for schema in (A, HK):
        items = getattr(response.s2c, schema.list_field)
        oracle = oracle_frame(items, schema)
        pairs = [(fast_frame(items, schema, twin), oracle)  # both readers
                 for twin in (None, getattr(columns, schema.list_field))]
        pairs.append((empty_from_blocks(schema), oracle_frame([], schema)))
        for fast, oracle in pairs:
            same = (list(fast.columns) == list(oracle.columns) and type(fast.columns) is type(oracle.columns)
                    and fast.columns.dtype == oracle.columns.dtype and fast.dtypes.equals(oracle.dtypes)
                    and type(fast.index) is type(oracle.index) and fast.index.equals(oracle.index)
                    and fast.equals(oracle))
            if not same:
                return False
    return True


def _fast_enabled() -> bool:
    option = string_option()
    enabled = _fast_checked.get(option)
    if enabled is None:
        try:
            enabled = _self_check()
        except Exception as exc:  # an internal pandas or protobuf API changed
            log.warning("futu_buybacks: fast frame path unavailable (%s); using the reference path", exc)
            enabled = False
        else:
            if not enabled:
                log.warning("futu_buybacks: fast frames differ from the reference on pandas %s; using the "
                            "reference", pd.__version__)
        _fast_checked[option] = enabled
    return enabled


def vendor_frames(s2c: Any, schemas: Sequence[FrameSchema]) -> Dict[str, pd.DataFrame]:
    """The frames the native method builds from a reply's ``S2C``: one per schema, by its key."""
    lists = [(schema, getattr(s2c, schema.list_field)) for schema in schemas]
    fast = any(len(items) for _, items in lists) and _fast_enabled()
    columns = None
    if fast and any(len(items) >= TWIN_ROWS for _, items in lists):
        try:
            columns = merge_lists(s2c)
        except Unsupported:
            fast = False
    frames = {}
    for schema, items in lists:
        frame = None
        if not len(items):
            frame = empty_frame(schema)
        elif fast:
            twin = getattr(columns, schema.list_field) if columns is not None and len(items) >= TWIN_ROWS else None
            try:
                frame = fast_frame(items, schema, twin)
            except Unsupported:
                pass
        frames[schema.key] = oracle_frame(items, schema) if frame is None else frame
    return frames
