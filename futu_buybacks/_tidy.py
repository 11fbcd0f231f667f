"""Tidy, typed frames for data loaders (separate from the vendor-identical compatibility frames).

One frame per market, a leading ``code`` column, the vendor's column names, then ``first_seen``
(when the cache first stored that version of the record, UTC), and dtypes that do not depend on
the data: ``Int64`` (nullable) for the vendor's int columns, ``float64`` for its floats,
``string`` for its strings; an empty frame has the same dtypes.
"""

from typing import Any, Dict, Iterable, Sequence

import pandas as pd

from ._schema import HK, A, FrameSchema

#: pandas dtype of each column kind in the tidy frames.
TIDY_DTYPES = {"int": "Int64", "float": "float64", "str": "string"}
#: Time zone of each frame's markets, for the ``*_date`` Unix seconds.
MARKET_ZONES = {HK.key: "Asia/Hong_Kong", A.key: "Asia/Shanghai"}


FIRST_SEEN = "first_seen"
FIRST_SEEN_DTYPE = "datetime64[ns, UTC]"


def tidy_dtypes(schema: FrameSchema) -> Dict[str, str]:
    return {"code": "string", **{c.name: TIDY_DTYPES[c.kind] for c in schema.columns}, FIRST_SEEN: FIRST_SEEN_DTYPE}


def tidy_frame(schema: FrameSchema, rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """A tidy frame from ``(code, *columns, first_seen)`` rows (None for missing values;
    ``first_seen`` in Unix seconds)."""
    names = ["code", *schema.names, FIRST_SEEN]
    frame = pd.DataFrame.from_records(list(rows), columns=names, coerce_float=False) if rows else \
        pd.DataFrame({name: [] for name in names})
    seconds = pd.to_numeric(frame.pop(FIRST_SEEN), errors="coerce").astype("float64")
    frame = frame.astype({name: dtype for name, dtype in tidy_dtypes(schema).items() if name != FIRST_SEEN})
    # stored as float seconds: to the microsecond, without the float's nanosecond noise
    frame[FIRST_SEEN] = pd.to_datetime(seconds, unit="s", utc=True).dt.round("us").astype(FIRST_SEEN_DTYPE)
    return frame


def empty_tidy_frame(schema: FrameSchema) -> pd.DataFrame:
    return tidy_frame(schema, [])


def with_timestamps(frame: pd.DataFrame, columns: Iterable[str] = ()) -> pd.DataFrame:
    """A copy with each ``*_date`` column (Unix seconds) turned into timezone-aware timestamps.

    The zone is the market's: Asia/Hong_Kong for ``hk_buy_back_list``, Asia/Shanghai for
    ``a_buy_back_list`` (told apart by their columns).  Missing values become ``NaT``.  Pass
    ``columns`` to convert only some.
    """
    zone = MARKET_ZONES[HK.key] if "publ_date" in frame.columns else MARKET_ZONES[A.key]
    schema = HK if "publ_date" in frame.columns else A
    targets = list(columns) or [c.name for c in schema.columns if c.kind == "int" and c.name.endswith("_date")]
    out = frame.copy()
    for name in targets:
        seconds = pd.to_numeric(out[name], errors="coerce").astype("float64")
        out[name] = pd.to_datetime(seconds, unit="s", utc=True).dt.tz_convert(zone)
    return out
