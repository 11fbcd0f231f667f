"""Reading repeated buyback items into the SDK's DataFrames (no I/O).

``oracle_frame`` is the native method's algorithm written out plainly: one dict per item
holding only the fields the server set, then ``pd.DataFrame(rows, columns=...)``.  Its result
is the definition of "identical to the vendor": a missing field is NaN, an int column with a
NaN is float64, a column missing from every row is all-NaN float64, strings are whatever pandas
infers (object on pandas 2, ``str`` on pandas 3), an empty list gives object columns.

``vendor_frame`` produces the same frame several times faster and in a fraction of the memory:

- one column at a time, values read with one C-level ``map(attrgetter)`` per column, straight
  into a typed array (no per-row dicts, no per-cell ``HasField``);
- an unset proto2 field reads as its default (0, 0.0, ""), so presence is checked only on the
  cells holding a default value;
- the frame is assembled from ready 2-D blocks (one per dtype) instead of inferring dtypes
  from a 2-D object array.

The dtypes pandas would infer are learnt once per pandas configuration by running the oracle on
tiny probes, and the fast path checks itself against the oracle on first use; if anything
differs (a pandas release that infers differently, a changed internal API) it switches itself
off and every frame comes from the oracle.  The differential tests compare both with the
native method on every pandas the matrix covers.
"""

import logging
from functools import lru_cache
from itertools import chain
from operator import attrgetter
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import numpy as np
import pandas as pd

from ._schema import FrameSchema

log = logging.getLogger("futu_buybacks")
NAN = float("nan")


def oracle_frame(items: Iterable[Any], schema: FrameSchema) -> pd.DataFrame:
    """The native algorithm, spelled out: one dict per item holding only the set fields."""
    rows = []
    for item in items:
        rows.append({c.name: getattr(item, c.field) for c in schema.columns if item.HasField(c.field)})
    return pd.DataFrame(rows, columns=list(schema.names))


def empty_frame(schema: FrameSchema) -> pd.DataFrame:
    """The frame of a reply without items: the columns, no rows (object dtype, as native).

    Built once per pandas configuration and copied: the constructor costs ~0.5 ms, a copy ~15 us.
    """
    return _empty_template(schema.names, _string_option()).copy()


@lru_cache(maxsize=16)
def _empty_template(names: Tuple[str, ...], option: Any) -> pd.DataFrame:
    return pd.DataFrame([], columns=list(names))


# ---- what pandas infers, learnt from the oracle --------------------------------------------------
_PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3


def _string_option() -> Any:
    """pandas 2's switch for inferring the str dtype (always on, and deprecated, from pandas 3)."""
    if _PANDAS_3:
        return True
    try:
        return pd.get_option("future.infer_string")
    except Exception:  # pandas without the option
        return None


@lru_cache(maxsize=8)
def _inferred(option: Any) -> Dict[str, Any]:
    """dtypes the list-of-rows constructor infers: for strings (with NaN) and all-NaN columns."""
    probe = pd.DataFrame([("a", NAN, 1), (NAN, NAN, 2)], columns=["s", "none", "i"])
    return {"str": probe.dtypes["s"], "none": probe.dtypes["none"], "columns": type(probe.columns),
            "columns_dtype": probe.columns.dtype}


# ---- building blocks -----------------------------------------------------------------------------
def _frame_from_blocks(blocks: List[Tuple[Any, List[int]]], columns: pd.Index, n: int) -> pd.DataFrame:
    """A DataFrame from (values, column positions) blocks, without copying or re-inferring."""
    index = pd.RangeIndex(n)
    placed = [(values, np.asarray(positions, dtype=np.intp)) for values, positions in blocks]
    try:
        from pandas.api.internals import create_dataframe_from_blocks  # pandas >= 2.3
    except ImportError:
        from pandas.core.internals import BlockManager, api  # pandas 2.1 .. 2.2
        made = [api.make_block(values, placement=positions, ndim=2) for values, positions in placed]
        manager = BlockManager(made, [columns, index])
        return pd.DataFrame._from_mgr(manager, axes=manager.axes)
    return create_dataframe_from_blocks(placed, index=index, columns=columns)


class _Unsupported(Exception):
    """A column the fast path does not handle (values beyond int64): use the oracle."""


_ARRAY_DTYPES = {"int": np.int64, "float": np.float64, "str": object}
_KINDS = ("int", "float", "str")


@lru_cache(maxsize=8)
def _layout(schema: FrameSchema) -> Dict[str, Tuple[List[int], Any, Tuple[str, ...]]]:
    """Per kind: column positions, a getter returning those fields as a tuple, the field names."""
    layout = {}
    for kind in _KINDS:
        positions = [i for i, c in enumerate(schema.columns) if c.kind == kind]
        fields = tuple(schema.columns[i].field for i in positions)
        getter = attrgetter(*fields) if len(fields) > 1 else (lambda item, g=attrgetter(fields[0]): (g(item),))
        layout[kind] = (positions, getter, fields)
    return layout


_CHUNK = 4096  # rows of strings read at a time when pandas packs them into pyarrow buffers


def _read_kind(items: Sequence[Any], kind: str, getter: Any, fields: Tuple[str, ...],
               rows: slice = slice(None)) -> Tuple[np.ndarray, Dict[int, List[int]]]:
    """The (columns x rows) view of one kind's raw values, and per column the rows left unset."""
    part = items[rows]
    n, width = len(part), len(fields)
    try:
        block = np.fromiter(chain.from_iterable(map(getter, part)), dtype=_ARRAY_DTYPES[kind], count=n * width)
    except OverflowError:  # an int beyond int64 (a uint64 past 2262): pandas' own rules apply
        raise _Unsupported() from None
    block = block.reshape(n, width)
    # An unset field reads as its default (0, 0.0, ""): only those cells need HasField.
    hits, columns = np.nonzero(block == ("" if kind == "str" else 0))
    missing: Dict[int, List[int]] = {}
    for row, column in zip(hits.tolist(), columns.tolist()):
        if not part[row].HasField(fields[column]):
            missing.setdefault(column, []).append(row)
    return block.T, missing


def _string_columns(items: Sequence[Any], getter: Any, fields: Tuple[str, ...], dtype: Any) -> List[Any]:
    """Per string column, the pandas array pandas infers (str / NaN), or all-NaN marker None.

    With pyarrow storage the Python strings are packed chunk by chunk, so only one chunk of
    them is alive at a time; otherwise the strings themselves are the column's storage.
    """
    n = len(items)
    cls = dtype.construct_array_type()
    arrow = getattr(dtype, "storage", None) == "pyarrow"
    step = _CHUNK if arrow else max(n, 1)
    try:
        return _pack_strings(items, getter, fields, cls, dtype, arrow, step)
    except (ValueError, TypeError):  # bytes where a string field was not valid UTF-8
        raise _Unsupported() from None


def _pack_strings(items: Sequence[Any], getter: Any, fields: Tuple[str, ...], cls: Any, dtype: Any,
                  arrow: bool, step: int) -> List[Any]:
    n = len(items)
    pieces: List[List[Any]] = [[] for _ in fields]
    gaps = [0] * len(fields)
    for start in range(0, n, step):
        block, missing = _read_kind(items, "str", getter, fields, slice(start, start + step))
        for j, rows in missing.items():
            block[j, rows] = NAN
            gaps[j] += len(rows)
        if arrow:
            import pyarrow as pa
            flat = pa.array(block.ravel(), type=pa.large_string(), from_pandas=True)
            width = block.shape[1]
            for j in range(len(fields)):
                pieces[j].append(flat.slice(j * width, width))
        else:
            for j in range(len(fields)):
                pieces[j].append(block[j])
    columns: List[Any] = []
    for j in range(len(fields)):
        if gaps[j] == n:
            columns.append(None)
        elif arrow and len(pieces[j]) == 1:  # up to _CHUNK rows: a zero-copy slice of the one buffer
            columns.append(cls(pieces[j][0], dtype=dtype))
        elif arrow:
            import pyarrow as pa
            columns.append(cls(pa.chunked_array(pieces[j], type=pa.large_string()).combine_chunks(), dtype=dtype))
        else:
            columns.append(cls._from_sequence(np.concatenate(pieces[j]), dtype=dtype))
    return columns


def fast_frame(items: Sequence[Any], schema: FrameSchema) -> pd.DataFrame:
    """The same frame as :func:`oracle_frame`, built from typed blocks, one per kind of column."""
    n = len(items)
    if n == 0:
        return empty_frame(schema)
    items = list(items)  # one wrapper per item instead of one per item and kind
    inferred = _inferred(_string_option())
    all_missing = np.float64 if inferred["none"] == np.float64 else object
    blocks: List[Tuple[Any, List[int]]] = []
    floats: List[Tuple[np.ndarray, List[int]]] = []   # float columns, and int columns with a gap
    for kind, (positions, getter, fields) in _layout(schema).items():
        if not positions:
            continue
        if kind == "str" and inferred["str"] != np.dtype(object):
            for position, array in zip(positions, _string_columns(items, getter, fields, inferred["str"])):
                if array is None:
                    blocks.append((np.full((1, n), NAN, dtype=all_missing), [position]))
                else:
                    blocks.append((array, [position]))
            continue
        block, missing = _read_kind(items, kind, getter, fields)
        keep = []
        for j, position in enumerate(positions):
            gaps = missing.get(j)
            if gaps is not None and len(gaps) == n:
                blocks.append((np.full((1, n), NAN, dtype=all_missing), [position]))
            elif gaps is not None and kind == "int":
                column = block[j].astype(np.float64)
                column[gaps] = NAN
                floats.append((column[np.newaxis], [position]))
            else:
                if gaps is not None:
                    block[j, gaps] = NAN
                keep.append(j)
        if keep:
            kept = block if len(keep) == len(positions) else block[keep]  # a view when nothing moved
            (floats if kind == "float" else blocks).append((kept, [positions[j] for j in keep]))
    if len(floats) == 1:
        blocks.append(floats[0])
    elif floats:
        blocks.append((np.vstack([values for values, _ in floats]), [p for _, places in floats for p in places]))
    return _frame_from_blocks(blocks, _columns(schema, _string_option()), n)


def _columns(schema: FrameSchema, option: Any) -> pd.Index:
    """The columns Index the native constructor makes (object on pandas 2, str on pandas 3)."""
    return _empty_template(schema.names, option).columns


# ---- choosing the path ---------------------------------------------------------------------------
_fast_enabled = None  # None: not checked yet


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
    for items, schema in ((response.s2c.aBuyBackList, A), (response.s2c.hkBuyBackList, HK)):
        fast, oracle = fast_frame(items, schema), oracle_frame(items, schema)
        same = (list(fast.columns) == list(oracle.columns) and type(fast.columns) is type(oracle.columns)
                and fast.columns.dtype == oracle.columns.dtype and fast.dtypes.equals(oracle.dtypes)
                and fast.index.equals(oracle.index) and fast.equals(oracle))
        if not same:
            return False
    return True


def vendor_frame(items: Sequence[Any], schema: FrameSchema) -> pd.DataFrame:
    """The frame the native method builds for these items (identical columns, dtypes, values)."""
    global _fast_enabled
    if _fast_enabled is None:
        try:
            _fast_enabled = _self_check()
        except Exception as exc:  # an internal pandas API changed
            log.warning("futu_buybacks: fast frame path unavailable (%s); using the reference path", exc)
            _fast_enabled = False
        if not _fast_enabled:
            log.warning("futu_buybacks: fast frames differ from the reference on pandas %s; using the reference",
                        pd.__version__)
    if _fast_enabled:
        try:
            return fast_frame(items, schema)
        except _Unsupported:
            pass
    return oracle_frame(items, schema)

