"""The fast path from repeated buyback items to the SDK's DataFrames (no I/O).

``fast_frame`` builds the frame the native method builds (see ``_frames.oracle_frame``) from
typed blocks instead of one dict per item, several times faster and in a fraction of the memory:

- values are read in C: for a page, one ``attrgetter`` per item mapped over the items; for a
  big reply, whole columns from the reply's *twin* (see ``merge_lists``), which numpy reads
  without a Python object per number;
- an unset proto2 field reads as its default (0, 0.0, ""), so ``HasField`` is asked only of the
  cells holding a default value;
- the frame is assembled from ready blocks with pandas' own block constructors, in the dtypes
  pandas would infer: learnt once per pandas configuration by running pandas on tiny probes.

Anything this path does not handle (a uint64 past int64, strings that are not UTF-8) raises
``Unsupported`` and the caller uses the oracle.  ``_frames`` checks this path against the oracle
before first use and the differential tests compare both with the native method on every pandas
the matrix covers.
"""

import inspect
from functools import lru_cache
from itertools import chain, repeat
from operator import attrgetter, itemgetter
from typing import Any, Dict, FrozenSet, Iterable, List, NamedTuple, Sequence, Tuple

import numpy as np
import pandas as pd
from pandas._libs.internals import BlockPlacement
from pandas.core.internals.blocks import ExtensionBlock, NumpyBlock
from pandas.core.internals.managers import BlockManager

from ._schema import FrameSchema

NAN = float("nan")


# ---- what pandas infers, learnt from pandas itself ------------------------------------------------
_PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3


def string_option() -> Any:
    """pandas 2's switch for inferring the str dtype (always on, and deprecated, from pandas 3)."""
    if _PANDAS_3:
        return True
    try:
        return pd.get_option("future.infer_string")
    except Exception:  # pandas without the option
        return None


@lru_cache(maxsize=16)
def empty_template(names: Tuple[str, ...], option: Any) -> pd.DataFrame:
    """The native frame of an empty list, built once per pandas configuration: its columns Index
    is the one every frame gets a copy of."""
    return pd.DataFrame([], columns=list(names))


@lru_cache(maxsize=8)
def _inferred(option: Any) -> Dict[str, Any]:
    """dtypes the list-of-rows constructor infers: for strings (with NaN) and all-NaN columns; and
    for a str dtype, how to build its arrays ("pyarrow": the module when the storage is pyarrow,
    "wrap": pyarrow chunks -> array)."""
    probe = pd.DataFrame([("a", NAN, 1), (NAN, NAN, 2)], columns=["s", "none", "i"])
    strings = probe.dtypes["s"]
    pa = _pyarrow() if getattr(strings, "storage", None) == "pyarrow" else None
    template = probe["s"].array[:0]
    return {"str": strings, "none": probe.dtypes["none"], "object_str": strings == np.dtype(object),
            "pyarrow": pa, "wrap": _arrow_wrapper(template, pa) if pa else None}


# ---- building blocks -----------------------------------------------------------------------------
def _frame_from_blocks(blocks: List[Tuple[Any, List[int]]], columns: pd.Index, n: int) -> pd.DataFrame:
    """A DataFrame from (values, column positions) blocks, without copying or re-inferring.

    Numpy values are 2-D (columns x rows), extension arrays 1-D, as pandas stores them; every
    position appears once.  pandas' own block classes (2.1 to 3.x) are used directly: the public
    ``create_dataframe_from_blocks`` (2.3+) validates what we built, at twice the cost.  The
    values here are int64, float64 or object arrays and string extension arrays, for which
    pandas' ``new_block`` picks NumpyBlock and ExtensionBlock: we pick them the same way.
    """
    made = [(NumpyBlock if type(values) is np.ndarray else ExtensionBlock)(
        values, ndim=2, placement=_placement(tuple(positions))) for values, positions in blocks]
    manager = BlockManager(made, [_own_index(columns), _row_index(n)], verify_integrity=False)
    return pd.DataFrame._from_mgr(manager, axes=manager.axes)


def _row_index(n: int) -> pd.RangeIndex:
    """``RangeIndex(n)`` through ``_simple_new`` (what its constructor ends in, without the
    argument checks: a quarter of the cost; pandas 2.1 to 3.x, covered by the self-check)."""
    return pd.RangeIndex._simple_new(range(n))


@lru_cache(maxsize=1024)
def _placement(positions: Tuple[int, ...]) -> BlockPlacement:
    """Where a block's columns go (immutable, so shared by every frame with that layout)."""
    return BlockPlacement(np.asarray(positions, dtype=np.intp))


def _own_index(columns: pd.Index) -> pd.Index:
    """A new Index over the same (immutable) values, as pandas gives every frame its own:
    ``df.columns.name = ...`` must not reach other frames.

    Not ``columns.view()``: views of one Index share its reference tracking, and pandas 3.1
    crashed (a segfault in garbage collection) when threads made frames with views of one Index
    at a high rate.  ``_simple_new`` is what pandas itself builds an Index with; a deep copy
    would do too, at ten times the cost.
    """
    try:
        return type(columns)._simple_new(columns._values, name=columns.name)
    except (AttributeError, TypeError, AssertionError):  # a pandas without it
        return columns.copy(deep=True)


class Unsupported(Exception):
    """Data the fast path does not handle (values beyond int64, strings not UTF-8): use the oracle."""


_KINDS = ("int", "float", "str")


class _Kind(NamedTuple):
    """The columns of one kind: their positions in the frame, their fields, one getter for all."""

    positions: List[int]
    fields: Tuple[str, ...]
    getter: Any  # message -> tuple of the fields' values
    unsigned: FrozenSet[int]  # indexes of uint64 fields


class _Plan(NamedTuple):
    """Everything about a schema that does not depend on the data, per pandas configuration."""

    schema: FrameSchema
    kinds: Tuple[Tuple[str, _Kind], ...]
    columns: pd.Index          # the columns Index the native constructor makes
    inferred: Dict[str, Any]   # what pandas infers (see _inferred)


_plans: Dict[Tuple[int, Any], _Plan] = {}


def _plan(schema: FrameSchema) -> _Plan:
    option = string_option()
    plan = _plans.get((id(schema), option))
    if plan is None:  # the plan holds the schema, so its id is not reused while the entry lives
        from ._messages import item_descriptor
        item = item_descriptor(schema.list_field)
        kinds = []
        for kind in _KINDS:
            positions = [i for i, c in enumerate(schema.columns) if c.kind == kind]
            if positions:
                fields = tuple(schema.columns[i].field for i in positions)
                getter = attrgetter(*fields) if len(fields) > 1 else (lambda m, g=attrgetter(fields[0]): (g(m),))
                unsigned = frozenset(j for j, field in enumerate(fields)
                                     if item.fields_by_name[field].type == item.fields_by_name[field].TYPE_UINT64)
                kinds.append((kind, _Kind(positions, fields, getter, unsigned)))
        plan = _Plan(schema, tuple(kinds), empty_template(schema.names, option).columns, _inferred(option))
        _plans[(id(schema), option)] = plan
    return plan


def merge_lists(s2c: Any) -> Any:
    """The reply's item lists as columns: the S2C re-encoded and parsed as its twin.

    In the result, ``<list field>.<item field>`` holds, in item order, the values of the items
    that have that field (see ``_messages.twin_class``).  Raises Unsupported if it cannot parse.
    """
    from ._messages import PACKAGES, PROTO_BUYBACKS, twin_class
    twin = twin_class(PACKAGES[PROTO_BUYBACKS] + ".S2C")
    try:
        return twin.FromString(s2c.SerializeToString())
    except Exception:  # a string that is not UTF-8 (the pure-python parser checks)
        raise Unsupported() from None


# ---- reading: per kind, a (columns x rows) block and the cells no item set ------------------------
_DTYPES = {"int": np.int64, "float": np.float64, "str": object}
_DEFAULTS = {"int": 0, "float": 0, "str": ""}


class _Block(NamedTuple):
    """One kind's values, (columns x rows), and its unset cells: None, or (columns, rows) arrays."""

    values: np.ndarray
    unset: Any

    def gaps(self) -> np.ndarray:
        """Per column, how many of its cells are unset."""
        return np.bincount(self.unset[0], minlength=self.values.shape[0])


def _read_items(items: Sequence[Any], kind: str, spec: _Kind) -> _Block:
    """Every field of one kind from the items: one ``attrgetter`` per item, mapped in C.

    An unset proto2 field reads as its default (0, 0.0, ""), so ``HasField`` is asked only of
    the cells holding a default value, again in C.  Best for pages (up to a few hundred rows).
    """
    n, width = len(items), len(spec.fields)
    try:
        flat = np.fromiter(chain.from_iterable(map(spec.getter, items)), dtype=_DTYPES[kind], count=n * width)
    except OverflowError:  # a uint64 past int64 (a date past 2262): pandas' own rules apply
        raise Unsupported() from None
    values = flat.reshape(n, width).T
    if kind != "str" and flat.all():  # no zero anywhere: every field set (the usual case)
        return _Block(values, None)
    rows, columns = np.divmod(np.flatnonzero(flat == _DEFAULTS[kind]), width)
    return _Block(values, _unset_cells(items, spec.fields, columns, rows))


def _unset_cells(items: Sequence[Any], fields: Tuple[str, ...], columns: np.ndarray, rows: np.ndarray) -> Any:
    """Of these cells, which hold a default value, the ones no item set: (columns, rows) or None.

    ``HasField`` is asked of each cell, called in C through ``map``.
    """
    if not rows.size:
        return None
    has_field = type(items[0]).HasField
    present = np.fromiter(map(has_field, _pick(items, rows.tolist()), _pick(fields, columns.tolist())),
                          dtype=bool, count=rows.size)
    if present.all():
        return None
    return columns[~present], rows[~present]


def _pick(values: Sequence[Any], indexes: List[int]) -> Sequence[Any]:
    """``[values[i] for i in indexes]`` in one C call (``map(values.__getitem__, ...)`` costs a
    method call per cell)."""
    return itemgetter(*indexes)(values) if len(indexes) > 1 else (values[indexes[0]],)


def _read_columns(items: Sequence[Any], columns: Any, kind: str, spec: _Kind) -> _Block:
    """The number fields of one kind from the merged twin: numpy reads each column in C, no
    Python object per value.  A column shorter than the reply finds its rows with ``HasField``.
    Best for big replies (re-encoding the reply costs ~0.5 us per item)."""
    n = len(items)
    containers = spec.getter(columns)
    counts = list(map(len, containers))
    if max(counts) > n:  # a field twice in one item: not from a serializer
        raise Unsupported()
    dtype = _DTYPES[kind]
    unset = None
    try:
        with np.errstate(invalid="ignore"):  # a uint64 past int64 wraps: checked below
            if all(count == n for count in counts):
                values = np.array(containers, dtype=dtype)
            else:
                has_field = type(items[0]).HasField
                values = np.zeros((len(containers), n), dtype=dtype)
                present = np.ones((len(containers), n), dtype=bool)
                for j, (field, container, count) in enumerate(zip(spec.fields, containers, counts)):
                    if count < n:
                        present[j] = np.fromiter(map(has_field, items, repeat(field, n)), dtype=bool, count=n)
                    values[j, present[j]] = np.asarray(container)
                unset = np.nonzero(~present)
    except (OverflowError, TypeError, ValueError):  # a uint64 past int64 where numpy sees Python ints
        raise Unsupported() from None
    # upb hands numpy uint64 arrays: a value past int64 (a date past 2262) wraps to negative
    if kind == "int" and spec.unsigned and values[sorted(spec.unsigned)].min() < 0:
        raise Unsupported()
    return _Block(values, unset)


TWIN_ROWS = 256  # from this many items on, a reply is read through its twin (see merge_lists)
_CHUNK = 4096     # rows of strings read at a time: bounds the Python strings alive at once


def _string_chunks(items: Sequence[Any], columns: Any, spec: _Kind) -> Iterable[Tuple[List[Any], Any]]:
    """The string fields in chunks of up to _CHUNK rows: per chunk a flat list, column after
    column, with None where a field is unset, and those cells as (columns, rows) arrays or None."""
    n = len(items)
    containers = spec.getter(columns) if columns is not None else ()
    whole = bool(containers) and all(len(container) == n for container in containers)
    for start in range(0, n, _CHUNK):
        part = items[start:start + _CHUNK]
        if whole:  # every item has every string field: slices of the twin's columns
            yield list(chain.from_iterable(c[start:start + _CHUNK] for c in containers)), None
            continue
        flat = list(chain.from_iterable(zip(*map(spec.getter, part))))
        if "" not in flat:  # an unset string field reads as ""
            yield flat, None
            continue
        columns_, rows = np.divmod(np.flatnonzero(np.array(flat, dtype=object) == ""), len(part))
        unset = _unset_cells(part, spec.fields, columns_, rows)
        if unset is not None:
            for cell in (unset[0] * len(part) + unset[1]).tolist():
                flat[cell] = None
        yield flat, unset


def _string_arrays(items: Sequence[Any], columns: Any, spec: _Kind, inferred: Dict[str, Any]) -> List[Any]:
    """Per string column, the array of the str dtype pandas infers, or None when all unset.

    With pyarrow storage the strings are packed chunk by chunk into one buffer per chunk, so
    only one chunk of Python strings is alive at a time.
    """
    n, width, dtype, pa = len(items), len(spec.fields), inferred["str"], inferred["pyarrow"]
    pieces: List[List[Any]] = [[] for _ in range(width)]
    gaps = np.zeros(width, dtype=np.intp)
    for flat, unset in _string_chunks(items, columns, spec):
        rows = len(flat) // width
        if unset is not None:
            gaps += np.bincount(unset[0], minlength=width)
        if pa:
            try:  # one buffer holding the chunk's strings column after column
                packed = pa.chunked_array([pa.array(flat, type=pa.large_string())])
            except (ValueError, TypeError, pa.ArrowException):  # bytes: a field that is not UTF-8
                raise Unsupported() from None
            for j in range(width):
                pieces[j].append(packed.slice(j * rows, rows) if width > 1 else packed)
        else:
            for j in range(width):
                pieces[j].append(flat[j * rows:(j + 1) * rows])
    unset_everywhere = (gaps == n).tolist()
    if pa:
        wrap = inferred["wrap"]
        return [None if unset_everywhere[j] else wrap(pieces[j]) for j in range(width)]
    cls = dtype.construct_array_type()
    try:
        return [None if unset_everywhere[j] else cls._from_sequence(
            np.array(list(chain.from_iterable(pieces[j])), dtype=object), dtype=dtype) for j in range(width)]
    except (ValueError, TypeError):  # bytes: a field that is not UTF-8
        raise Unsupported() from None


def _pyarrow() -> Any:
    import pyarrow
    return pyarrow


def _arrow_wrapper(template: Any, pa: Any) -> Any:
    """chunks -> pandas' pyarrow-backed string array over them (one contiguous buffer, as pandas makes).

    pandas >= 3.0 has ``_from_pyarrow_array``, the constructor it uses itself for arrays it
    knows are valid; otherwise the public constructor (which re-checks the type).
    """
    from_pyarrow = getattr(template, "_from_pyarrow_array", None)
    if from_pyarrow is None:
        cls, dtype = type(template), template.dtype
        # pandas 2.3's array takes its dtype from its class (ArrowStringArrayNumpySemantics)
        takes_dtype = "dtype" in inspect.signature(cls.__init__).parameters

        def from_pyarrow(values: Any) -> Any:
            return cls(values, dtype=dtype) if takes_dtype else cls(values)

    def wrap(chunks: List[Any]) -> Any:  # chunks: single-chunk ChunkedArrays
        if len(chunks) == 1:
            return from_pyarrow(chunks[0])
        whole = pa.chunked_array([piece for chunk in chunks for piece in chunk.chunks], type=pa.large_string())
        return from_pyarrow(pa.chunked_array([whole.combine_chunks()]))
    return wrap


# ---- placing: typed blocks as pandas would infer them -------------------------------------------
def _all_unset(n: int, inferred: Dict[str, Any]) -> np.ndarray:
    """A column unset in every row: all NaN, of the dtype pandas infers for that."""
    return np.full((1, n), NAN, dtype=np.float64 if inferred["none"] == np.float64 else object)


def _place_with_gaps(block: _Block, kind: str, positions: List[int], inferred: Dict[str, Any],
                     blocks: List[Tuple[Any, List[int]]], floats: List[Tuple[np.ndarray, List[int]]]) -> None:
    """Columns with unset cells: NaN there; an int column with a gap becomes float64 (as pandas
    infers), a column unset in every row takes the all-NaN dtype."""
    n = block.values.shape[1]
    if kind != "str" and inferred["none"] == np.float64:  # pandas' usual inference: the short way
        _place_numbers_with_gaps(block, kind, positions, blocks, floats)
        return
    gaps = block.gaps()
    # With an all-NaN dtype of float64 the float path below makes an unset int or float column.
    alone = gaps == n if kind == "str" or inferred["none"] != np.float64 else np.zeros(len(gaps), dtype=bool)
    for j in np.flatnonzero(alone).tolist():
        blocks.append((_all_unset(n, inferred), [positions[j]]))
    if kind == "int":
        as_float = block.values.astype(np.float64)
        as_float[block.unset] = NAN
        gapped = np.flatnonzero((gaps > 0) & ~alone)
        if gapped.size:
            floats.append((as_float[gapped], [positions[j] for j in gapped.tolist()]))
        keep = np.flatnonzero(gaps == 0)
    else:
        block.values[block.unset] = NAN
        keep = np.flatnonzero(~alone)
    if keep.size:
        kept = block.values if keep.size == len(positions) else block.values[keep]
        (floats if kind == "float" else blocks).append((kept, [positions[j] for j in keep.tolist()]))


def _place_numbers_with_gaps(block: _Block, kind: str, positions: List[int], blocks: List[Tuple[Any, List[int]]],
                             floats: List[Tuple[np.ndarray, List[int]]]) -> None:
    """Number columns with unset cells, when an all-NaN column is float64: NaN in the cells; an
    int column with a gap is float64 (so is one unset in every row), the other int columns stay."""
    if kind == "float":
        block.values[block.unset] = NAN
        floats.append((block.values, positions))
        return
    gapped = sorted(set(block.unset[0].tolist()))
    as_float = block.values[gapped].astype(np.float64)
    as_float[np.searchsorted(gapped, block.unset[0]), block.unset[1]] = NAN
    floats.append((as_float, [positions[j] for j in gapped]))
    if len(gapped) < len(positions):
        keep = sorted(set(range(len(positions))).difference(gapped))
        blocks.append((block.values[keep], [positions[j] for j in keep]))


def fast_frame(items: Sequence[Any], schema: FrameSchema, columns: Any = None) -> pd.DataFrame:
    """The frame pandas builds from one dict per item, built from typed blocks instead.

    ``columns``, the items' merged twin (see merge_lists), is used when given: pass it for big
    replies (TWIN_ROWS items or more).
    """
    n = len(items)
    if n == 0:
        raise ValueError("fast_frame needs items; see empty_frame")
    items = list(items)  # one wrapper per item instead of one per item and kind
    plan = _plan(schema)
    inferred = plan.inferred
    blocks: List[Tuple[Any, List[int]]] = []
    floats: List[Tuple[np.ndarray, List[int]]] = []   # float columns, and int columns with a gap
    for kind, spec in plan.kinds:
        if kind == "str" and not inferred["object_str"]:
            for position, array in zip(spec.positions, _string_arrays(items, columns, spec, inferred)):
                blocks.append((_all_unset(n, inferred) if array is None else array, [position]))
            continue
        if kind == "str" or columns is None:  # object strings (pandas 2): the strings are the storage
            block = _read_items(items, kind, spec)
        else:
            block = _read_columns(items, columns, kind, spec)
        if block.unset is None:  # the usual case: every field set
            (floats if kind == "float" else blocks).append((block.values, spec.positions))
        else:
            _place_with_gaps(block, kind, spec.positions, inferred, blocks, floats)
    if len(floats) == 1:
        blocks.append(floats[0])
    elif floats:
        blocks.append((np.vstack([values for values, _ in floats]), [p for _, places in floats for p in places]))
    return _frame_from_blocks(blocks, plan.columns, n)


def empty_from_blocks(schema: FrameSchema) -> pd.DataFrame:
    """The frame of a reply without items, as pandas makes it: object columns, no rows.

    Assembled from one empty object block (~6 us; the constructor costs ~0.5 ms, and a copy of a
    template makes views of its axes, see _own_index).
    """
    width = len(schema.columns)
    return _frame_from_blocks([(np.empty((width, 0), dtype=object), list(range(width)))], _plan(schema).columns, 0)
