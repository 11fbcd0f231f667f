"""The fast path from repeated buyback items to the SDK's DataFrames (no I/O).

``fast_frame`` builds the frame the native method builds (see ``_frames.oracle_frame``) from
typed blocks instead of one dict per item, several times faster and in a fraction of the memory:

- values are read in C: for a page, one ``attrgetter`` per item mapped over the items; for a
  big reply, whole columns from the reply's *twin* (see ``merge_lists``), which numpy reads
  without a Python object per number;
- fields no item has (a server leaves out what it lacks) are found first and not read: they
  become all-NaN float64 columns (a page asks the other items only of the fields the first one
  lacks; a big reply's twin shows them as empty columns);
- an unset proto2 field reads as its default (0, 0.0, ""), so ``HasField`` is asked only of the
  cells holding a default value, for all the kinds of a page in one pass; what it finds is a
  missing mask per kind, from which NaN (numbers) or nulls (a validity bitmap over the packed
  strings) are placed;
- the frame is assembled from ready blocks with pandas' own block constructors, in the dtypes
  pandas would infer: learnt once per pandas configuration by running pandas on tiny probes.

Anything this path does not handle (a uint64 past int64, strings that are not UTF-8) raises
``Unsupported`` and the caller uses the oracle.  ``_frames`` checks this path against the oracle
before first use and the differential tests compare both with the native method on every pandas
the matrix covers.
"""

import inspect
from functools import lru_cache
from itertools import chain, filterfalse, repeat
from operator import attrgetter, itemgetter
from typing import Any, Dict, FrozenSet, List, NamedTuple, Sequence, Tuple

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
    """The dtype the list-of-rows constructor infers for strings (with NaN), and how to build its
    arrays ("pyarrow": the module when the storage is pyarrow, "wrap": pyarrow chunks -> array)."""
    probe = pd.DataFrame([("a",), (NAN,)], columns=["s"])["s"]
    strings = probe.dtype
    pa = _pyarrow() if getattr(strings, "storage", None) == "pyarrow" else None
    template = probe.array[:0]
    return {"str": strings, "object_str": strings == np.dtype(object),
            "pyarrow": pa, "wrap": _arrow_wrapper(template, pa) if pa else None}


# ---- building blocks -----------------------------------------------------------------------------
def _frame_from_blocks(blocks: List[Tuple[Any, List[int]]], columns: pd.Index, n: int) -> pd.DataFrame:
    """A DataFrame from (values, column positions) blocks, without copying or re-inferring.

    Numpy values are 2-D (columns x rows), extension arrays 1-D, as pandas stores them; every
    position appears once, in ascending order within a block (pandas' own invariant).  pandas'
    own block classes (2.1 to 3.x) are used directly: the public
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
    """Everything about a schema that does not depend on the data, per pandas configuration and
    set of fields no item has (those are not read: see ``fast_frame``)."""

    schema: FrameSchema
    kinds: Tuple[Tuple[str, _Kind], ...]
    columns: pd.Index          # the columns Index the native constructor makes
    inferred: Dict[str, Any]   # what pandas infers (see _inferred)
    absent: List[int]          # positions of the columns left out


_plans: Dict[Tuple[int, Any, FrozenSet[str]], _Plan] = {}


def _plan(schema: FrameSchema, absent: FrozenSet[str] = frozenset()) -> _Plan:
    option = string_option()
    key = (id(schema), option, absent)
    plan = _plans.get(key)
    if plan is None:  # the plan holds the schema, so its id is not reused while the entry lives
        from ._messages import item_descriptor
        item = item_descriptor(schema.list_field)
        kinds = []
        for kind in _KINDS:
            positions = [i for i, c in enumerate(schema.columns) if c.kind == kind and c.field not in absent]
            if positions:
                fields = tuple(schema.columns[i].field for i in positions)
                getter = attrgetter(*fields) if len(fields) > 1 else (lambda m, g=attrgetter(fields[0]): (g(m),))
                unsigned = frozenset(j for j, field in enumerate(fields)
                                     if item.fields_by_name[field].type == item.fields_by_name[field].TYPE_UINT64)
                kinds.append((kind, _Kind(positions, fields, getter, unsigned)))
        plan = _Plan(schema, tuple(kinds), empty_template(schema.names, option).columns, _inferred(option),
                     [i for i, c in enumerate(schema.columns) if c.field in absent])
        if len(_plans) < 1024:  # a server leaves out a few sets of fields, not thousands
            _plans[key] = plan
    return plan


_NONE_ABSENT: FrozenSet[str] = frozenset()


def _absent_fields(items: Sequence[Any], fields: Tuple[str, ...]) -> FrozenSet[str]:
    """The fields no item has, found cheaply: only those the first item lacks are asked of the
    others, and a field stops being asked at the first item that has it."""
    lacking = list(filterfalse(items[0].HasField, fields))
    if not lacking:
        return _NONE_ABSENT
    has_field, n = type(items[0]).HasField, len(items)
    return frozenset(field for field in lacking if not any(map(has_field, items, repeat(field, n))))


# ---- reading: every value once, ``HasField`` only of the cells holding a default ------------------
_DTYPES = {"int": np.int64, "float": np.float64}
_NO_CELLS = np.empty(0, dtype=np.intp)

# A kind's cells as read: (values, missing).  Numbers: values (columns x rows), missing None (every
# cell set) or a bool array of the same shape.  Strings: a list of chunks of up to _CHUNK rows, each
# (packed, missing), see _pack_strings; missing None or bool (columns x rows of the chunk).
_Cells = Tuple[Any, Any]


def _read_numbers(items: Sequence[Any], kind: str, spec: _Kind) -> Tuple[np.ndarray, np.ndarray]:
    """One number kind, item after item (one ``attrgetter`` per item, mapped in C), and the
    positions of the cells holding 0: an unset proto2 field reads as its default."""
    n, width = len(items), len(spec.fields)
    try:
        flat = np.fromiter(chain.from_iterable(map(spec.getter, items)), dtype=_DTYPES[kind], count=n * width)
    except OverflowError:  # a uint64 past int64 (a date past 2262): pandas' own rules apply
        raise Unsupported() from None
    return flat, (_NO_CELLS if flat.all() else np.flatnonzero(flat == 0))


def _pack_strings(flat: List[Any], width: int, inferred: Dict[str, Any]) -> Any:
    """Strings, column after column, as the frame stores them: one pyarrow array when the str
    dtype is pyarrow-backed, else an object array (columns x rows)."""
    pa = inferred["pyarrow"]
    if pa is None:
        return np.array(flat, dtype=object).reshape(width, -1)
    try:
        return pa.array(flat, type=pa.large_string())
    except (ValueError, TypeError, pa.ArrowException):  # bytes: a field that is not UTF-8
        raise Unsupported() from None


def _empty_strings(packed: Any) -> np.ndarray:
    """Positions of the empty strings in packed strings (what an unset field reads as)."""
    if isinstance(packed, np.ndarray):
        return np.flatnonzero(packed.ravel() == "")
    offsets = np.frombuffer(packed.buffers()[1], dtype=np.int64, count=len(packed) + 1)
    return np.flatnonzero(offsets[1:] == offsets[:-1])


def _read_strings(items: Sequence[Any], spec: _Kind, inferred: Dict[str, Any]) -> Tuple[Any, np.ndarray]:
    """The string fields of the items, packed column after column, and the positions of the
    empty ones."""
    flat = list(chain.from_iterable(zip(*map(spec.getter, items))))
    packed = _pack_strings(flat, len(spec.fields), inferred)
    return packed, (_empty_strings(packed) if "" in flat else _NO_CELLS)


def _pick(values: Sequence[Any], indexes: List[int]) -> Sequence[Any]:
    """``[values[i] for i in indexes]`` in one C call (``map(values.__getitem__, ...)`` costs a
    method call per cell)."""
    return itemgetter(*indexes)(values) if len(indexes) > 1 else (values[indexes[0]],)


_Query = Tuple[np.ndarray, Tuple[str, ...], bool]  # (positions, fields, item_major): see _missing_cells


@lru_cache(maxsize=64)
def _cell_table(fields: Tuple[str, ...], item_major: bool, n: int) -> Tuple[Tuple[int, ...], Tuple[str, ...]]:
    """Each cell's item and field, for one kind's cells laid out item after item (numbers) or
    column after column (strings); made once per layout and row count (a page size recurs)."""
    width = len(fields)
    if item_major:
        return tuple(row for row in range(n) for _ in range(width)), fields * n
    return tuple(range(n)) * width, tuple(field for field in fields for _ in range(n))


def _missing_cells(items: Sequence[Any], queries: Sequence[_Query]) -> List[Any]:
    """Of the cells holding a default value, those no item set, for several kinds in one pass of
    ``HasField`` calls (mapped in C over the cells picked).

    Each query is (positions, fields, item_major): positions of the candidate cells in one kind's
    values, laid out item after item (numbers) or column after column (strings).  Returns per
    query a flat bool array over that layout, or None where every candidate is set.
    """
    n = len(items)
    rows: List[int] = []
    names: List[str] = []
    for positions, fields, item_major in queries:
        if positions.size:
            cells = positions.tolist()
            row_of, field_of = _cell_table(fields, item_major, n)
            rows.extend(_pick(row_of, cells))
            names.extend(_pick(field_of, cells))
    if not names:
        return [None] * len(queries)
    present = np.fromiter(map(type(items[0]).HasField, _pick(items, rows), names), dtype=bool, count=len(names))
    missing, start = [], 0
    for positions, fields, _ in queries:
        gone = positions[~present[start:start + positions.size]] if positions.size else positions
        start += positions.size
        mask = None
        if gone.size:
            mask = np.zeros(n * len(fields), dtype=bool)
            mask[gone] = True
        missing.append(mask)
    return missing


def _read_page(items: Sequence[Any], plan: "_Plan") -> List[_Cells]:
    """Every kind of a page (up to a few hundred items), item by item; one presence pass for all."""
    n, read, queries = len(items), [], []
    for kind, spec in plan.kinds:
        if kind == "str":
            values, candidates = _read_strings(items, spec, plan.inferred)
        else:
            values, candidates = _read_numbers(items, kind, spec)
        read.append(values)
        queries.append((candidates, spec.fields, kind != "str"))
    cells: List[_Cells] = []
    for (kind, spec), values, missing in zip(plan.kinds, read, _missing_cells(items, queries)):
        width = len(spec.fields)
        if kind == "str":
            cells.append(([(values, None if missing is None else missing.reshape(width, n))], None))
        else:
            cells.append((values.reshape(n, width).T, None if missing is None else missing.reshape(n, width).T))
    return cells


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


TWIN_ROWS = 256  # from this many items on, a reply is read through its twin (see merge_lists)
_CHUNK = 4096     # rows of strings read at a time: bounds the Python strings alive at once


def _read_columns(items: Sequence[Any], columns: Any, kind: str, spec: _Kind) -> _Cells:
    """The number fields of one kind from the merged twin: numpy reads each column in C, no
    Python object per value.  A column shorter than the reply finds its rows with ``HasField``.
    Best for big replies (re-encoding the reply costs ~0.5 us per item)."""
    n = len(items)
    containers = spec.getter(columns)
    counts = list(map(len, containers))
    if max(counts) > n:  # a field twice in one item: not from a serializer
        raise Unsupported()
    dtype = _DTYPES[kind]
    missing = None
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
                missing = ~present
    except (OverflowError, TypeError, ValueError):  # a uint64 past int64 where numpy sees Python ints
        raise Unsupported() from None
    # upb hands numpy uint64 arrays: a value past int64 (a date past 2262) wraps to negative
    if kind == "int" and spec.unsigned and values[sorted(spec.unsigned)].min() < 0:
        raise Unsupported()
    return values, missing


def _read_string_columns(items: Sequence[Any], columns: Any, spec: _Kind, inferred: Dict[str, Any]) -> _Cells:
    """The string fields of a big reply in chunks of up to _CHUNK rows: slices of the twin's
    columns when every item has every string field, else read item by item."""
    n, width = len(items), len(spec.fields)
    containers = spec.getter(columns)
    whole = all(len(container) == n for container in containers)
    chunks = []
    for start in range(0, n, _CHUNK):
        if whole:
            flat = list(chain.from_iterable(c[start:start + _CHUNK] for c in containers))
            chunks.append((_pack_strings(flat, width, inferred), None))
            continue
        part = items[start:start + _CHUNK]
        packed, candidates = _read_strings(part, spec, inferred)
        (missing,) = _missing_cells(part, [(candidates, spec.fields, False)])
        chunks.append((packed, None if missing is None else missing.reshape(width, len(part))))
    return chunks, None


def _read_reply(items: Sequence[Any], columns: Any, plan: "_Plan") -> List[_Cells]:
    """Every kind of a big reply: numbers through the twin, strings in chunks."""
    return [_read_string_columns(items, columns, spec, plan.inferred) if kind == "str"
            else _read_columns(items, columns, kind, spec) for kind, spec in plan.kinds]


# ---- strings: the arrays of the str dtype pandas infers --------------------------------------------
def _joined(chunks: List[Tuple[Any, Any]]) -> Tuple[np.ndarray, Any]:
    """Object-array chunks as one (columns x rows) array and its missing cells (or None)."""
    if len(chunks) == 1:
        return chunks[0]
    values = np.concatenate([packed for packed, _ in chunks], axis=1)
    if all(missing is None for _, missing in chunks):
        return values, None
    return values, np.concatenate([np.zeros(packed.shape, dtype=bool) if missing is None else missing
                                   for packed, missing in chunks], axis=1)


def _with_nulls(packed: Any, missing: np.ndarray, pa: Any) -> Any:
    """Packed strings with the missing cells null (a validity bitmap over the same buffers)."""
    buffers = packed.buffers()
    valid = pa.py_buffer(np.packbits(~missing.ravel(), bitorder="little"))
    return pa.LargeStringArray.from_buffers(len(packed), buffers[1], buffers[2], valid)


def _string_arrays(chunks: List[Tuple[Any, Any]], width: int, n: int, inferred: Dict[str, Any]) -> List[Any]:
    """Per string column, the array of the str dtype pandas infers (every column is set in some
    row: fields no item has are left out before reading, see ``fast_frame``).

    With pyarrow storage each chunk is one buffer of strings, column after column, of which each
    column is a slice; a column of several chunks is combined into one buffer, as pandas makes it.
    """
    pa = inferred["pyarrow"]
    if pa is None:  # Python storage: one array per column from the strings, None where missing
        values, missing = _joined(chunks)
        if missing is not None:
            values[missing] = None
        cls, dtype = inferred["str"].construct_array_type(), inferred["str"]
        try:
            return [cls._from_sequence(values[j], dtype=dtype) for j in range(width)]
        except (ValueError, TypeError):  # bytes: a field that is not UTF-8
            raise Unsupported() from None
    wholes = [pa.chunked_array([packed if missing is None else _with_nulls(packed, missing, pa)])
              for packed, missing in chunks]
    if len(wholes) == 1:  # a page: its columns are slices of one buffer
        pieces = [[wholes[0].slice(j * n, n)] for j in range(width)]
    else:
        rows = [len(whole) // width for whole in wholes]
        pieces = [[whole.slice(j * size, size) for whole, size in zip(wholes, rows)] for j in range(width)]
    wrap = inferred["wrap"]
    return [wrap(pieces[j]) for j in range(width)]


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
# pandas makes a column missing from every row float64 (all NaN) and consolidates float64 columns
# into one block: such columns (left out of the plan, see fast_frame) go with the floats.  The
# self-check confirms this on each pandas.
_Blocks = List[Tuple[Any, List[int]]]


class _FloatBlock:
    """The frame's one float64 block: float columns, int columns with a gap and columns missing
    from every row, gathered by position and written once, rows in column order (pandas keeps a
    block's columns ascending; ``to_numpy`` of a one-block frame reads the rows without looking)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.parts: List[Tuple[Any, List[int]]] = []  # (float64 values, or None: all NaN; positions)

    def add(self, values: Any, positions: List[int], missing: Any = None) -> None:
        """Columns at ``positions`` (ascending), NaN where ``missing``; ``values`` None: all NaN.
        Float values get their NaN in place (they are the caller's own, just read)."""
        if not positions:
            return
        if missing is not None:
            if values.dtype == np.float64:
                values[missing] = NAN
            else:
                values = np.where(missing, NAN, values)
        self.parts.append((values, positions))

    def block(self) -> Any:
        """(values, positions), or None without float columns."""
        if len(self.parts) <= 1 and (not self.parts or self.parts[0][0] is not None):
            return self.parts[0] if self.parts else None  # one set of columns: as it is, no copy
        positions, rows = _float_layout(tuple(tuple(places) for _, places in self.parts))
        out = np.empty((len(positions), self.n))
        for (values, _), where in zip(self.parts, rows):
            out[where] = NAN if values is None else values
        return out, positions


@lru_cache(maxsize=256)
def _float_layout(parts: Tuple[Tuple[int, ...], ...]) -> Tuple[List[int], List[Any]]:
    """The float block's positions in order, and where each part's rows go (a slice if they follow
    each other); a page layout recurs, so it is worked out once."""
    positions = sorted(p for places in parts for p in places)
    rank = {p: r for r, p in enumerate(positions)}
    rows = []
    for places in parts:
        first, last = rank[places[0]], rank[places[-1]]
        contiguous = last - first + 1 == len(places)
        rows.append(slice(first, last + 1) if contiguous else [rank[p] for p in places])
    return positions, rows


def _gapped_rows(missing: Any) -> List[int]:
    """The columns (row indexes of a columns x rows mask) missing from some rows."""
    return [] if missing is None else np.flatnonzero(missing.any(axis=1)).tolist()


def _rows(values: np.ndarray, picked: List[int], width: int) -> np.ndarray:
    """The picked rows of a (width x n) array: the array itself when every row is picked."""
    return values if len(picked) == width else values[picked]


def _place_numbers(kind: str, values: np.ndarray, missing: Any, positions: List[int],
                   blocks: _Blocks, floats: _FloatBlock) -> None:
    """NaN where a cell is missing; an int column with a gap becomes float64 (as pandas infers)."""
    if kind == "float":
        floats.add(values, positions, missing)
        return
    width = len(positions)
    gapped = _gapped_rows(missing)
    complete = [j for j in range(width) if j not in gapped] if gapped else list(range(width))
    if complete:
        blocks.append((_rows(values, complete, width), [positions[j] for j in complete]))
    if gapped:
        floats.add(_rows(values, gapped, width), [positions[j] for j in gapped], _rows(missing, gapped, width))


def _place_object_strings(chunks: List[Tuple[Any, Any]], positions: List[int], blocks: _Blocks) -> None:
    """Strings stored as objects (pandas 2): one object block, NaN where missing."""
    values, missing = _joined(chunks)
    if missing is not None:
        values[missing] = NAN
    blocks.append((values, positions))


def fast_frame(items: Sequence[Any], schema: FrameSchema, columns: Any = None) -> pd.DataFrame:
    """The frame pandas builds from one dict per item, built from typed blocks instead.

    ``columns``, the items' merged twin (see merge_lists), is used when given: pass it for big
    replies (TWIN_ROWS items or more).
    """
    n = len(items)
    if n == 0:
        raise ValueError("fast_frame needs items; see empty_frame")
    items = list(items)  # one wrapper per item instead of one per item and kind
    if columns is None:  # fields no item has are not read
        plan = _plan(schema, _absent_fields(items, schema.fields))
    else:  # the twin holds them as empty columns
        plan = _plan(schema, frozenset(field for field in schema.fields if not len(getattr(columns, field))))
    inferred = plan.inferred
    cells = _read_page(items, plan) if columns is None else _read_reply(items, columns, plan)
    blocks: _Blocks = []
    floats = _FloatBlock(n)  # float columns, int columns with a gap, columns missing everywhere
    floats.add(None, plan.absent)
    for (kind, spec), (values, missing) in zip(plan.kinds, cells):
        if kind != "str":
            _place_numbers(kind, values, missing, spec.positions, blocks, floats)
        elif inferred["object_str"]:
            _place_object_strings(values, spec.positions, blocks)
        else:
            strings = _string_arrays(values, len(spec.fields), n, inferred)
            blocks.extend((array, [position]) for position, array in zip(spec.positions, strings))
    merged = floats.block()
    if merged is not None:
        blocks.append(merged)
    return _frame_from_blocks(blocks, plan.columns, n)


def empty_from_blocks(schema: FrameSchema) -> pd.DataFrame:
    """The frame of a reply without items, as pandas makes it: object columns, no rows.

    Assembled from one empty object block (~6 us; the constructor costs ~0.5 ms, and a copy of a
    template makes views of its axes, see _own_index).
    """
    width = len(schema.columns)
    return _frame_from_blocks([(np.empty((width, 0), dtype=object), list(range(width)))], _plan(schema).columns, 0)
