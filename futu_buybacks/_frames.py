"""Reading repeated buyback items into the SDK's DataFrames (no I/O): the reference and the fast path.

``oracle_frame`` is the native method's algorithm written out plainly: one dict per item
holding only the fields the server set, then ``pd.DataFrame(rows, columns=...)``.  Its result
is the definition of "identical to the vendor": a missing field is NaN, an int column with a
NaN is float64, a column missing from every row is all-NaN float64, strings are whatever pandas
infers (object on pandas 2, ``str`` on pandas 3), an empty list gives object columns.

``typed_frame`` builds the same frame about twice as fast, through public pandas and numpy API
only, by reading by kind instead of by item:

- one ``attrgetter`` per kind and item reads the values in C, into one 2-D numpy array per kind
  (int64, float64, object), one row per field;
- an unset proto2 field reads as its default (0, 0.0, ""), so ``HasField`` is asked only of the
  cells that hold one, those of every kind in one ``map``; the unset ones become NaN (an int
  column with one becomes float64);
- all the string cells of a page are converted once, as the options in force at the call make
  pandas infer them (``future.infer_string``, ``mode.string_storage``), and each column is a
  slice of the result: ``pd.array`` with the dtype ``pandas_dtype(str)`` names (pandas 2.3 and
  later, where that is the dtype pandas infers for str cells), else a ``pd.Series`` of them;
- ``pd.DataFrame(columns_dict, index=RangeIndex(n))`` assembles it, consolidated into one block
  per dtype as the native frame is (``copy=False`` would leave one block per column on pandas 3).

What this path cannot mirror exactly (a uint64 past int64, a string cell that is not ``str``
where pandas would infer the str dtype) goes to the oracle.  ``vendor_frames`` compares the
path with the oracle on probes once per pandas configuration, and any unexpected exception in it
is logged once and answered by the oracle: the compatibility method never raises from here.
"""

import logging
import os
from collections import defaultdict
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import numpy as np
import pandas as pd
from pandas.api.types import is_object_dtype, pandas_dtype

from ._schema import FrameSchema

log = logging.getLogger("futu_buybacks")

#: Set to "reference" to build every frame with the oracle (the matrix runs one cell so).
FRAMES_ENV = "FUTU_BUYBACKS_FRAMES"
NAN = float("nan")


def oracle_frame(items: Iterable[Any], schema: FrameSchema) -> pd.DataFrame:
    """The native algorithm, spelled out: one dict per item holding only the set fields."""
    rows = []
    for item in items:
        rows.append({c.name: getattr(item, c.field) for c in schema.columns if item.HasField(c.field)})
    return pd.DataFrame(rows, columns=list(schema.names))


def empty_frame(schema: FrameSchema) -> pd.DataFrame:
    """The frame of a reply without items: the columns, no rows (object dtype, as native).

    One object block of shape (0, columns): what the native ``pd.DataFrame([], columns=...)``
    makes, at a third of its cost (every reply has an empty frame, the other market's).
    """
    return pd.DataFrame(np.empty((0, len(schema.columns)), dtype=object), columns=list(schema.names))


# ---- the fast path --------------------------------------------------------------------------------
class Unsupported(Exception):
    """Data the fast path does not mirror exactly; the oracle builds that frame."""


def _getter(fields: List[str]) -> Any:
    """``attrgetter`` of the fields, returning a tuple also for one field."""
    getter = attrgetter(*fields)
    return getter if len(fields) > 1 else lambda item: (getter(item),)


class _Plan:
    """Per schema: a getter for each kind's fields, and the order of the columns.

    The kinds are read strings, ints, floats; ``fields`` lists every field in that order, so one
    index names a field of any kind (all the presence checks of a page go through one call), and
    ``order`` gives, for each column of the schema, its field's index there.
    """

    def __init__(self, schema: FrameSchema):
        kinds = [[c for c in schema.columns if c.kind == kind] for kind in ("str", "int", "float")]
        self.widths = [len(columns) for columns in kinds]
        self.get_str, self.get_int, self.get_float = (_getter([c.field for c in columns]) for columns in kinds)
        self.fields = [c.field for columns in kinds for c in columns]
        self.order = [self.fields.index(field) for field in schema.fields]
        self.in_order = itemgetter(*self.order)  # the columns of ``fields``' order, in the schema's
        self.keys = range(len(self.order))


_PLANS: Dict[str, _Plan] = {}


def _plan(schema: FrameSchema) -> _Plan:
    plan = _PLANS.get(schema.key)
    if plan is None:
        plan = _PLANS[schema.key] = _Plan(schema)
    return plan


def _read(items: Sequence[Any], get: Any, width: int, dtype: Any) -> np.ndarray:
    """The values of one kind, one row per item: object (numpy 1.23 and later), int64 or float64."""
    try:
        return np.fromiter(chain.from_iterable(map(get, items)), dtype,
                           count=len(items) * width).reshape(len(items), width)
    except OverflowError:  # a uint64 past int64: pandas makes uint64 or object of it
        raise Unsupported("integer past int64") from None


def _present(items: Sequence[Any], fields: List[str], cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Whether the server set each cell (fields[cols[i]] of items[rows[i]]) that holds a default value."""
    if len(rows) < 2:  # itemgetter of one index returns the item, not a tuple
        return np.array([items[r].HasField(fields[c]) for r, c in zip(rows.tolist(), cols.tolist())], bool)
    cells = itemgetter(*rows.tolist())(items), itemgetter(*cols.tolist())(fields)
    return np.fromiter(map(type(items[0]).HasField, *cells), dtype=bool, count=len(rows))


_UNSEEN = object()


class _ByDtype(dict):  # type: ignore[type-arg]
    """A dict keyed by dtype that finds the key it found last by identity, before hashing.

    pandas' extension dtypes hash and compare in Python (StringDtype: about a microsecond a
    lookup, and a frame takes several), and the dtype of a page is nearly always the very object
    of the page before: the one ``_string_dtype`` hands out, or the one a cached Index holds.
    """

    last: Tuple[Any, Any] = (_UNSEEN, None)

    def get(self, key: Any, default: Any = None) -> Any:
        last_key, value = self.last
        if key is last_key:
            return value
        value = dict.get(self, key, _UNSEEN)
        if value is _UNSEEN:
            return default
        self.last = key, value
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        dict.__setitem__(self, key, value)
        self.last = key, value


#: pandas_dtype(str) -> the object of that dtype the fast path uses, or None where pandas infers another
_HINTS = _ByDtype()


def _string_dtype() -> Any:
    """The extension dtype pandas infers for cells that are all ``str`` (or NaN) under the options
    in force, or None where that is object or not known.

    ``pandas_dtype(str)`` follows ``future.infer_string`` and ``mode.string_storage`` on pandas 2.3
    and later (the default string dtype) without reading the first option (pandas 3 warns on every
    read of it); it is trusted once pandas has inferred that very dtype on a probe.
    """
    hint = pandas_dtype(str)
    if isinstance(hint, np.dtype):  # strings stay object, or a pandas that does not say
        return None
    last, known = _HINTS.last
    if type(hint) is type(last) and hint == last:  # a new object each call: compared, not hashed
        return known
    known = _HINTS.get(hint, _UNSEEN)
    if known is _UNSEEN:
        known = _HINTS[hint] = hint if pd.Series(np.array(["a", NAN], dtype=object)).dtype == hint else None
    return known


def _strings(cells: np.ndarray, n: int, counts: List[int]) -> Tuple[List[Any], Any]:
    """The string columns (``cells``: one row per field, NaN where unset; ``counts``: how many
    cells of each are unset), inferred by pandas in one pass over every cell and sliced per
    column; and the dtype pandas inferred (None if every string cell is unset)."""
    # a field unset in every item: pandas makes an all-NaN float64 column of it
    columns: List[Any] = [None if count < n else np.full(n, NAN) for count in counts]
    kept = [i for i, column in enumerate(columns) if column is None]
    if not kept:
        return columns, None
    flat = cells.ravel() if len(kept) == len(counts) else cells[kept].ravel()  # column after column
    known = _string_dtype()
    if known is not None and pd.api.types.infer_dtype(flat, skipna=True) == "string":
        inferred = pd.array(flat, dtype=known, copy=False)  # what the inference makes of them, less the Series
    else:
        inferred = pd.Series(flat, copy=False).array
        if is_object_dtype(inferred.dtype) and pd.api.types.infer_dtype(inferred, skipna=True) != "string" \
                and not is_object_dtype(pd.Series(np.array(["a"], dtype=object)).dtype):
            raise Unsupported("a string cell that is not str")  # pandas would type the others as str
    dtype = inferred.dtype
    for position, i in enumerate(kept):
        columns[i] = inferred[position * n:(position + 1) * n]
    return columns, dtype


_INDEXES: Dict[str, _ByDtype] = defaultdict(_ByDtype)  # schema key -> strings' dtype -> the columns Index


def _columns(schema: FrameSchema, dtype: Any) -> pd.Index:
    """The columns Index pandas makes of the names where strings infer to ``dtype``: a new Index
    object (names are per frame) over values built once, a view as ``DataFrame.copy`` makes."""
    if dtype is None:
        return pd.Index(list(schema.names))
    indexes = _INDEXES[schema.key]
    index = indexes.get(dtype)
    if index is None:
        index = indexes[dtype] = pd.Index(list(schema.names))
    return index.view()


def typed_frame(items: Sequence[Any], schema: FrameSchema) -> Tuple[pd.DataFrame, Any]:
    """The frame ``oracle_frame`` builds, by kind instead of by item (see the module docstring),
    and the dtype pandas inferred for its strings (what the pandas options made of them)."""
    items = list(items)  # the repeated field's container is slower to iterate, three times
    plan = _plan(schema)
    n, (n_str, n_int, n_float) = len(items), plan.widths
    # one row per field (plan.fields' order): the strings, then the ints, then the floats
    cells = _read(items, plan.get_str, n_str, object).T
    ints = _read(items, plan.get_int, n_int, np.int64).T
    floats = _read(items, plan.get_float, n_float, np.float64).T

    # an unset field reads as its default: ask the server's presence bits of those cells only
    gaps = np.empty((len(plan.fields), n), dtype=bool)
    np.equal(cells, "", out=gaps[:n_str])
    np.equal(ints, 0, out=gaps[n_str:n_str + n_int])
    np.equal(floats, 0, out=gaps[n_str + n_int:])
    cols, rows = np.nonzero(gaps)
    counts = [0] * len(plan.fields)  # of unset cells, per field
    if len(rows):
        present = _present(items, plan.fields, cols, rows)
        if np.count_nonzero(present):  # a default value the server set: a value, not a gap
            gaps[cols[present], rows[present]] = False
            cols = cols[~present]
        counts = np.bincount(cols, minlength=len(plan.fields)).tolist()
    if any(counts[:n_str]):
        cells[gaps[:n_str]] = NAN
    strings, dtype = _strings(cells, n, counts[:n_str])
    int_columns = list(ints)
    if any(counts[n_str:n_str + n_int]):  # an int column with a gap is float64
        as_floats = ints.astype(np.float64)
        as_floats[gaps[n_str:n_str + n_int]] = NAN
        for i, count in enumerate(counts[n_str:n_str + n_int]):
            if count:
                int_columns[i] = as_floats[i]
    if any(counts[n_str + n_int:]):
        floats[gaps[n_str + n_int:]] = NAN
    columns = strings + int_columns + list(floats)
    # positions as keys: an int Index costs nothing, the names' Index is made once per dtype; the
    # index passed: pandas skips measuring every column for it
    frame = pd.DataFrame({i: columns[j] for i, j in enumerate(plan.order)}, index=pd.RangeIndex(n))
    frame.columns = _columns(schema, dtype)
    return frame, dtype


# ---- choosing the path ---------------------------------------------------------------------------
#: Per string dtype pandas infers (it reflects ``future.infer_string`` and ``mode.string_storage``
#: without reading them: pandas 3 warns on every read of the first): whether the fast path agrees
#: with the oracle on the probes.
_checked: Dict[Any, bool] = _ByDtype()
_failed_once: List[str] = []


def same_frame(left: pd.DataFrame, right: pd.DataFrame) -> bool:
    """Identical as far as a user can see: columns (and their Index), dtypes, index, every value."""
    return (list(left.columns) == list(right.columns) and type(left.columns) is type(right.columns)
            and left.columns.dtype == right.columns.dtype and left.dtypes.equals(right.dtypes)
            and type(left.index) is type(right.index) and left.index.equals(right.index)
            and left.equals(right))


def _self_check() -> bool:
    """Both paths on probes covering every inference case; True if they agree exactly."""
    from ._messages import response_class
    from ._schema import HK, A
    s2c = response_class(3235)().s2c
    first, second = s2c.aBuyBackList.add(), s2c.aBuyBackList.add()
    first.changeDate, first.eventProceDesc, first.buyBackMoney, first.buyBackSum = 1, "实施", 2.5, 7
    second.changeDate, second.eventProceDesc, second.payDateStr = 0, "", "2026-04-09"
    hk = s2c.hkBuyBackList.add()
    hk.publDate, hk.shareType = 3, "普通股"
    return all(same_frame(typed_frame(getattr(s2c, schema.list_field), schema)[0],
                          oracle_frame(getattr(s2c, schema.list_field), schema)) for schema in (A, HK))


def _checked_frame(items: Sequence[Any], schema: FrameSchema) -> Any:
    """The fast frame, or None where the self-check failed under the options in force."""
    frame, dtype = typed_frame(items, schema)
    agrees = _checked.get(dtype)
    if agrees is None:
        agrees = _checked[dtype] = _self_check()
        if not agrees:
            log.warning("futu_buybacks: fast frames differ from the reference on pandas %s (strings as %s); "
                        "using the reference", pd.__version__, dtype)
    return frame if agrees else None


def _fast_frame_or_none(items: Sequence[Any], schema: FrameSchema) -> Any:
    """``_checked_frame``, or None for data it does not handle and for any failure (logged once)."""
    try:
        return _checked_frame(items, schema)
    except Unsupported:
        return None
    except Exception as exc:  # a bug of ours or a pandas change: never the user's problem
        if not _failed_once:
            _failed_once.append(repr(exc))
            log.warning("futu_buybacks: fast frame path failed (%r); this frame and any like it come "
                        "from the reference path", exc, exc_info=True)
        return None


_EMPTY: Dict[str, _ByDtype] = defaultdict(_ByDtype)  # schema key -> columns dtype -> an empty frame to copy


def _empty_like(schema: FrameSchema, columns_dtype: Any) -> pd.DataFrame:
    """``empty_frame(schema)`` where another frame of the reply shows the columns dtype pandas makes."""
    templates = _EMPTY[schema.key]
    template = templates.get(columns_dtype)
    if template is None:
        template = empty_frame(schema)
        if template.columns.dtype != columns_dtype:  # cannot be: the options changed in between
            return template
        templates[columns_dtype] = template
    return template.copy()


def vendor_frames(s2c: Any, schemas: Sequence[FrameSchema]) -> Dict[str, pd.DataFrame]:
    """The frames the native method builds from a reply's ``S2C``: one per schema, by its key."""
    fast = os.environ.get(FRAMES_ENV) != "reference"
    frames: Dict[str, pd.DataFrame] = {}
    empty = []
    for schema in schemas:
        items = getattr(s2c, schema.list_field)
        if not len(items):
            empty.append(schema)
            continue
        frame = _fast_frame_or_none(items, schema) if fast else None
        frames[schema.key] = oracle_frame(items, schema) if frame is None else frame
    sibling = next(iter(frames.values()), None)
    for schema in empty:
        frames[schema.key] = _empty_like(schema, sibling.columns.dtype) if fast and sibling is not None \
            else empty_frame(schema)
    return {schema.key: frames[schema.key] for schema in schemas}
