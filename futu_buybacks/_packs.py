"""Column packs: each code's records of one market in one BLOB, read back without a Python
object per value.

Read row by row, a warm load of 200,000 records turns 4.6 million SQLite values into Python
objects and then gathers them into columns: most of its time (issue 14 §6) and of its memory
peak (issue 13 §5).  So the cache keeps, beside the rows (the source of truth, what SQL sees),
one pack per source and code: every version of the code's records, in the order a read returns
them, as numpy's bytes.  ``Cache.store_page`` and ``Cache.clear`` rewrite it in the transaction
that changes the rows, so the two never disagree.

Layout (little-endian, row-major, so the packs of many codes are read as one array): the row
count ``n`` (int64); an ``n`` x ``W`` block of 8-byte words, one per int column (int64, 0 where
missing) and float column (float64, NaN where missing) in the schema's order, then
``first_seen`` and ``replaced_at`` (float64, NaN: not replaced); an ``n`` x ``F`` block of
validity bytes, one per int and string column; an ``n`` x ``S`` block of the string columns'
byte lengths (int32); then the strings' UTF-8 bytes, row after row.
"""

import functools
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ._schema import FrameSchema
from ._tidy import FIRST_SEEN, TIDY_DTYPES, Growing, moments

#: Rows decoded at once: the packs of that many rows are joined, then split into columns.
BATCH_ROWS = 4096


class _Layout(NamedTuple):
    kinds: Tuple[str, ...]  # per schema column
    words: Tuple[int, ...]  # schema column of each word (ints and floats), then the two moments
    flags: Tuple[int, ...]  # schema column of each validity byte (ints and strings)
    strings: Tuple[int, ...]  # schema column of each string length


@functools.cache
def _layout(schema: FrameSchema) -> _Layout:
    kinds = tuple(c.kind for c in schema.columns)
    return _Layout(kinds, tuple(i for i, k in enumerate(kinds) if k != "str"),
                   tuple(i for i, k in enumerate(kinds) if k != "float"),
                   tuple(i for i, k in enumerate(kinds) if k == "str"))


def pack(schema: FrameSchema, rows: Sequence[Sequence[Any]]) -> bytes:
    """The pack of ``rows``: ``(*columns, first_seen, replaced_at)`` tuples (None where missing),
    in the order a read returns them."""
    layout, n = _layout(schema), len(rows)
    columns: List[Sequence[Any]] = list(zip(*rows)) if rows else [()] * (len(layout.kinds) + 2)
    words = np.empty((n, len(layout.words) + 2), dtype="<f8")
    as_ints = words.view("<i8")
    for k, i in enumerate(layout.words):
        if layout.kinds[i] == "int":
            as_ints[:, k] = [0 if v is None else v for v in columns[i]]
        else:
            words[:, k] = np.array(columns[i], dtype=np.float64)  # None becomes NaN
    words[:, -2:] = np.array(columns[-2:], dtype=np.float64).T
    flags = np.array([[v is not None for v in columns[i]] for i in layout.flags], dtype=np.bool_).T
    strings = [b"" if v is None else v.encode() for row in zip(*(columns[i] for i in layout.strings)) for v in row]
    lengths = np.array([len(e) for e in strings], dtype="<i4")
    return b"".join([np.array(n, dtype="<i8").tobytes(), words.tobytes(), np.ascontiguousarray(flags).tobytes(),
                     lengths.tobytes(), *strings])


class PackReader:
    """The tidy frame (``_tidy``) of the packs added, one code at a time: the current versions of
    the records, or with ``as_of`` (Unix seconds) the versions a read at that moment returned,
    exactly as ``Cache.rows`` selects them.  ``capacity``: the packs' rows in all, so that each
    number column is allocated once (growing it left freed pieces with the allocator)."""

    def __init__(self, schema: FrameSchema, as_of: Optional[float] = None, capacity: int = 0):
        self.schema, self.as_of, self.layout = schema, as_of, _layout(schema)
        arrow = pd.api.types.pandas_dtype(TIDY_DTYPES["str"]).storage == "pyarrow"  # mode.string_storage, now
        self.code = _Strings(arrow)
        self.columns = [_Strings(arrow) if kind == "str" else _NUMBERS[kind](capacity) for kind in self.layout.kinds]
        self.first_seen = Growing(np.float64, capacity)
        self.pending: List[Tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.pending_rows = 0

    def add(self, code: str, data: bytes) -> None:
        n = int.from_bytes(data[:8], "little", signed=True)
        if not n:
            return
        width, flagged, strings = len(self.layout.words) + 2, len(self.layout.flags), len(self.layout.strings)
        at = 8
        words = np.frombuffer(data, dtype="<f8", count=n * width, offset=at).reshape(n, width)
        at += 8 * n * width
        flags = np.frombuffer(data, dtype=np.bool_, count=n * flagged, offset=at).reshape(n, flagged)
        at += n * flagged
        lengths = np.frombuffer(data, dtype="<i4", count=n * strings, offset=at)
        text = np.frombuffer(data, dtype=np.uint8, offset=at + 4 * n * strings)
        self.pending.append((code, words, flags, lengths, text))
        self.pending_rows += n
        if self.pending_rows >= BATCH_ROWS:
            self._decode()

    def _decode(self) -> None:
        """Split the pending packs into the columns, keeping the visible rows."""
        if not self.pending:
            return
        codes, *parts = zip(*self.pending)
        counts = np.array([len(w) for w in parts[0]])
        words, flags, lengths, text = (np.concatenate(p) for p in parts)
        self.pending, self.pending_rows = [], 0
        first_seen, replaced_at = words[:, -2], words[:, -1]
        if self.as_of is None:
            visible = np.isnan(replaced_at)
        else:  # first_seen <= as_of AND (replaced_at IS NULL OR replaced_at > as_of); NaN compares False
            visible = (first_seen <= self.as_of) & ~(replaced_at <= self.as_of)
        rows = None if visible.all() else np.flatnonzero(visible)

        def kept(values: np.ndarray) -> np.ndarray:
            return values if rows is None else values[rows]

        as_ints = words.view("<i8")
        for k, i in enumerate(self.layout.words):
            column = self.columns[i]
            if isinstance(column, _Ints):
                column.add(kept(as_ints[:, k]), kept(flags[:, self.layout.flags.index(i)]))
            else:
                column.add(kept(words[:, k]))
        self.first_seen.add(kept(first_seen))
        starts = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        starts, lengths = (a.reshape(-1, len(self.layout.strings)) for a in (starts, lengths))
        for k, i in enumerate(self.layout.strings):
            self.columns[i].add(text, kept(starts[:, k]), kept(lengths[:, k]),
                                kept(flags[:, self.layout.flags.index(i)]))
        encoded = [code.encode() for code in codes]
        code_lengths = np.array([len(e) for e in encoded], dtype=np.int64)
        code_starts = np.concatenate([[0], np.cumsum(code_lengths[:-1])]).astype(np.int64)
        of_row = kept(np.repeat(np.arange(len(codes)), counts))
        self.code.add(np.frombuffer(b"".join(encoded), dtype=np.uint8), code_starts[of_row], code_lengths[of_row],
                      np.ones(len(of_row), dtype=np.bool_))

    def frame(self) -> pd.DataFrame:
        self._decode()
        arrays = {"code": self.code.array(), **{c.name: column.array() for c, column in
                                               zip(self.schema.columns, self.columns)},
                  FIRST_SEEN: moments(self.first_seen.array())}
        # copy=False: no consolidation, which would copy the float columns into one block
        return pd.DataFrame(arrays, copy=False)


class _Floats:
    def __init__(self, capacity: int) -> None:
        self.values = Growing(np.float64, capacity)

    def add(self, values: np.ndarray) -> None:
        self.values.add(values)

    def array(self) -> np.ndarray:
        return self.values.array()


class _Ints:
    def __init__(self, capacity: int) -> None:
        self.values, self.valid = Growing(np.int64, capacity), Growing(np.bool_, capacity)

    def add(self, values: np.ndarray, valid: np.ndarray) -> None:
        self.values.add(values)
        self.valid.add(valid)

    def array(self) -> pd.api.extensions.ExtensionArray:
        mask = self.valid.array()
        np.logical_not(mask, out=mask)
        return pd.arrays.IntegerArray(self.values.array(), mask)


class _Strings:
    """A string column, a piece per decoded batch: with pyarrow's storage (``arrow``) each piece
    is an Arrow array made from the batch's UTF-8 bytes and offsets without a copy, and the column
    is their chunked array; with Python's, each string is decoded once."""

    def __init__(self, arrow: bool) -> None:
        self.arrow = arrow
        self.parts: List[Any] = []

    def add(self, text: np.ndarray, starts: np.ndarray, lengths: np.ndarray, valid: np.ndarray) -> None:
        """The strings ``text[starts[i]:starts[i] + lengths[i]]``."""
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # the byte positions of the strings, one run per string
        data = text[np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])]
        if self.arrow:
            import pyarrow
            self.parts.append(pyarrow.LargeStringArray.from_buffers(
                len(valid), pyarrow.py_buffer(offsets), pyarrow.py_buffer(data),
                pyarrow.py_buffer(np.packbits(valid, bitorder="little")), int(len(valid) - valid.sum())))
            return
        raw, bounds = data.tobytes(), offsets.tolist()
        cells = np.full(len(valid), None, dtype=object)
        for i in np.flatnonzero(valid).tolist():
            cells[i] = raw[bounds[i]:bounds[i + 1]].decode()
        self.parts.append(cells)

    def array(self) -> pd.api.extensions.ExtensionArray:
        if self.arrow:
            import pyarrow
            return pd.arrays.ArrowStringArray(pyarrow.chunked_array(self.parts, type=pyarrow.large_string()))
        cells = np.concatenate(self.parts) if self.parts else np.array([], dtype=object)
        return pd.array(cells, dtype=TIDY_DTYPES["str"])


_NUMBERS = {"int": _Ints, "float": _Floats}
