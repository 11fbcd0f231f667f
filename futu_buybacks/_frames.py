"""Reading repeated buyback items into the SDK's DataFrames (no I/O).

``vendor_frame`` returns exactly what futu-api 10.6+'s native method returns: the native code
builds ``pd.DataFrame(list_of_row_dicts, columns=...)`` where a row dict holds only the fields
the server set.  We hand pandas row tuples instead, with NaN where a field is unset.  pandas
sends a list of dicts and a list of tuples through the same per-column conversion
(``_finalize_columns_and_data``), so columns, dtypes, values and NaN placement are the same,
while skipping the per-cell ``HasField`` calls and dict building that dominate the native cost.

``oracle_frame`` is the native algorithm written out plainly; the differential tests compare the
two on every pandas the matrix runs, and it stays as the reference for any faster path.
"""

from operator import attrgetter
from typing import Any, Iterable, List, Sequence, Tuple

import pandas as pd

from ._schema import FrameSchema

NAN = float("nan")


def vendor_rows(items: Sequence[Any], schema: FrameSchema) -> List[Tuple[Any, ...]]:
    """One tuple per item, values in column order, NaN for every field the server did not set.

    An unset proto2 field reads as its default (0, 0.0, ""), so only rows holding a falsy value
    need the per-field presence check.
    """
    fields = schema.fields
    rows = list(map(attrgetter(*fields), items))
    for i, row in enumerate(rows):
        if not all(row):
            has = items[i].HasField
            rows[i] = tuple(v if v or has(f) else NAN for f, v in zip(fields, row))
    return rows


def vendor_frame(items: Sequence[Any], schema: FrameSchema) -> pd.DataFrame:
    """The frame the native method builds for these items (identical columns, dtypes, values)."""
    return pd.DataFrame(vendor_rows(items, schema), columns=list(schema.names))


def oracle_frame(items: Iterable[Any], schema: FrameSchema) -> pd.DataFrame:
    """The native algorithm, spelled out: one dict per item holding only the set fields."""
    rows = []
    for item in items:
        rows.append({c.name: getattr(item, c.field) for c in schema.columns if item.HasField(c.field)})
    return pd.DataFrame(rows, columns=list(schema.names))


def empty_frame(schema: FrameSchema) -> pd.DataFrame:
    """The frame of a reply without items: the columns, no rows (object dtype, as native)."""
    return pd.DataFrame([], columns=list(schema.names))
