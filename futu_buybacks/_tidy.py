"""Tidy, typed frames for data loaders (separate from the vendor-identical compatibility frames).

One frame per market, a leading ``code`` column, the vendor's column names, then ``first_seen``
(when the cache first stored that version of the record, UTC), and dtypes that do not depend on
the data: ``Int64`` (nullable) for the vendor's int columns, ``float64`` for its floats,
``string`` for its strings; an empty frame has the same dtypes.
"""

from typing import Any, Dict, Iterable, List, Sequence, Tuple

import numpy as np
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
    return tidy_frame_from_chunks(schema, [rows])


def tidy_frame_from_chunks(schema: FrameSchema, chunks: Iterable[Sequence[Sequence[Any]]]) -> pd.DataFrame:
    """The tidy frame of every row of ``chunks`` (each a sequence of ``(code, *columns, first_seen)``
    rows, as :meth:`Cache.row_chunks` gives them), in order.

    Built a column at a time: each chunk's values go into one array per column (values and a
    mask for ``Int64``, NaN for a missing float, the ``string`` dtype's own storage for strings),
    and the chunk's Python objects can go before the next one is read, so a large read holds its
    frame plus one chunk, not a tuple per row.  (A warm load reads the packs instead, ``_packs``:
    no Python object per value at all.)  The result equals
    ``DataFrame.from_records(rows).astype(tidy_dtypes(schema))`` (tests/test_tidy.py compares them),
    except that ints beyond 2**53 stay exact in a column that also has a missing value: pandas
    casts such an object column through float64.
    """
    names = ["code", *schema.names, FIRST_SEEN]
    columns = [_BUILDERS[kind]() for kind in ("str", *(c.kind for c in schema.columns), "moment")]
    for chunk in chunks:
        for column, values in zip(columns, zip(*chunk)):  # zip(*rows): the columns, as tuples
            column.add(values)
        chunk = values = None  # their objects can go before the next chunk is read
    # copy=False: no consolidation, which would copy the float columns into one block
    return pd.DataFrame({name: column.array() for name, column in zip(names, columns)}, copy=False)


class Growing:
    """A column's values in one array, grown in place as chunks arrive.

    ``ndarray.resize`` reallocates, and for a large array (glibc) realloc remaps pages rather
    than copying them, so a column is never held twice; growing by a quarter bounds the spare
    room, given back at the end.  Joining per-chunk arrays once at the end did hold it twice:
    the freed pieces stayed with the allocator (1.8x a 1M-record frame's size, against 1.3x).
    No view of the array exists before :meth:`array`, so resizing without the check is safe.
    ``capacity``: the most values expected, allocated at once (pages never written stay unused).
    """

    def __init__(self, dtype: Any, capacity: int = 0):
        self.values = np.empty(capacity, dtype=dtype)
        self.size = 0

    def add(self, values: Any) -> None:
        end = self.size + len(values)
        if end > len(self.values):
            self.values.resize(max(end, len(self.values) * 5 // 4), refcheck=False)
        self.values[self.size:end] = values
        self.size = end

    def array(self) -> np.ndarray:
        self.values.resize(self.size, refcheck=False)
        return self.values


class _Floats:
    def __init__(self) -> None:
        self.values = Growing(np.float64)

    def add(self, values: Tuple[Any, ...]) -> None:
        self.values.add(np.array(values, dtype=np.float64))  # None becomes NaN

    def array(self) -> np.ndarray:
        return self.values.array()


class _Ints:
    def __init__(self) -> None:
        self.values, self.mask = Growing(np.int64), Growing(bool)

    def add(self, values: Tuple[Any, ...]) -> None:
        try:
            self.values.add(np.array(values, dtype=np.int64))
            self.mask.add(np.zeros(len(values), dtype=bool))
        except TypeError:  # a None among them
            cells = np.array(values, dtype=object)
            mask = np.equal(cells, None)
            self.values.add(np.where(mask, 0, cells).astype(np.int64))
            self.mask.add(mask)

    def array(self) -> pd.api.extensions.ExtensionArray:
        return pd.arrays.IntegerArray(self.values.array(), self.mask.array())


class _Strings:
    """Each chunk's strings in the ``string`` dtype's storage at once, read at call time.

    With pyarrow's storage (no Python objects held), the chunk goes straight to ``pyarrow.array``:
    the cache's strings are ``str`` or None, and pandas' own conversion of a sequence first
    checks each of them in Python (a third of an ``as_of`` read's string time, issue 14 §6).
    """

    def __init__(self) -> None:
        self.parts: List[Any] = []
        self.arrow = pd.api.types.pandas_dtype(TIDY_DTYPES["str"]).storage == "pyarrow"

    def add(self, values: Tuple[Any, ...]) -> None:
        if self.arrow:
            import pyarrow
            self.parts.append(pyarrow.array(values, type=pyarrow.large_string()))
        else:
            self.parts.append(pd.array(values, dtype=TIDY_DTYPES["str"]))

    def array(self) -> pd.api.extensions.ExtensionArray:
        parts, self.parts = self.parts, []
        if self.arrow:
            import pyarrow
            # a chunked array keeps the pieces: nothing is copied
            return pd.arrays.ArrowStringArray(pyarrow.chunked_array(parts, type=pyarrow.large_string()))
        if len(parts) <= 1:
            return parts[0] if parts else pd.array([], dtype=TIDY_DTYPES["str"])
        return pd.concat([pd.Series(part, copy=False) for part in parts], ignore_index=True).array


class _Moments(_Floats):
    """Unix seconds (floats in the cache) as UTC timestamps, to the microsecond (without the
    float's nanosecond noise)."""

    def array(self) -> Any:
        return moments(self.values.array())


def moments(seconds: np.ndarray) -> Any:
    """Unix seconds as the ``first_seen`` column's UTC timestamps, to the microsecond."""
    values = pd.Series(pd.to_datetime(seconds, unit="s", utc=True))
    return values.dt.round("us").astype(FIRST_SEEN_DTYPE).array


_BUILDERS = {"int": _Ints, "float": _Floats, "str": _Strings, "moment": _Moments}


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
