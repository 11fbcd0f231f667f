"""Hypothesis strategies for protocol 3235 replies: sparse fields, empty lists, unicode,
64-bit extremes, extreme floats."""

import functools

from hypothesis import strategies as st

from futu_buybacks._messages import response_class
from futu_buybacks._schema import FRAMES

Response = response_class(3235)

_VALUES = {
    "TYPE_UINT64": st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 2**63 - 1, 2**63, 2**64 - 1])),
    "TYPE_INT64": st.one_of(st.integers(-2**63, 2**63 - 1), st.sampled_from([0, -2**63, 2**63 - 1, 2**53 + 1])),
    "TYPE_DOUBLE": st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, 5e-324, 1.7976931348623157e308, float("nan")]),
    "TYPE_STRING": st.text(max_size=12) | st.sampled_from(["", "普通股", "2026-04-09", "\x00", "🚀"]),
}
_TYPE_NAMES = {4: "TYPE_UINT64", 3: "TYPE_INT64", 1: "TYPE_DOUBLE", 9: "TYPE_STRING"}


@functools.cache
def item_lists(schema, realistic=False):
    """Up to 25 items of ``schema``'s list, each field unset or any value of its type.

    Built once per argument: hypothesis validates and analyses each new strategy object, which
    cost more than drawing the reply when ``replies`` built this anew for every example.
    """
    descriptor = Response.DESCRIPTOR.fields_by_name["s2c"].message_type.fields_by_name[schema.list_field].message_type
    fields = {}
    for field in descriptor.fields:
        values = _VALUES[_TYPE_NAMES[field.type]]
        if realistic and field.type in (3, 4):  # dates and share counts as OpenD sends them
            values = st.integers(0, 2**40)
        fields[field.name] = st.none() | values
    return st.lists(st.fixed_dictionaries(fields), max_size=25)


@st.composite
def replies(draw, realistic=False):
    response = Response()
    response.retType = 0
    for schema in FRAMES:
        if draw(st.booleans()):
            items = getattr(response.s2c, schema.list_field)
            for values in draw(item_lists(schema, realistic)):
                item = items.add()
                for name, value in values.items():
                    if value is not None:
                        setattr(item, name, value)
    key = draw(st.none() | st.text(max_size=5))
    if key is not None:
        response.s2c.nextKey = key
    return response


#: What SQLite hands back for each column kind of the cache: NULL, 64-bit ints (the most it
#: stores; "narrow" ones are exact in float64 too), floats but no NaN (stored as NULL), any text.
_CACHED = {
    "int": st.none() | st.integers(-2**63, 2**63 - 1) | st.sampled_from([0, -2**63, 2**63 - 1, 2**53 + 1]),
    "narrow int": st.none() | st.integers(-2**53, 2**53) | st.sampled_from([0, 1, 2**53]),
    "float": st.none() | _VALUES["TYPE_DOUBLE"].filter(lambda v: v == v),
    "str": st.none() | _VALUES["TYPE_STRING"],
}


def _cached_values(schema, narrow):
    return [_CACHED["narrow int" if narrow and c.kind == "int" else c.kind] for c in schema.columns]


@st.composite
def cached_rows(draw, schema, max_size=30):
    """``(code, *columns, first_seen)`` rows as ``Cache.rows`` returns them; in half the draws every
    int is narrow."""
    code = st.sampled_from(["HK.00700", "SZ.000001", "HK.09988"])
    first_seen = st.floats(1.5e9, 2.0e9)  # Unix seconds, as the cache stores them
    return draw(st.lists(st.tuples(code, *_cached_values(schema, draw(st.booleans())), first_seen),
                         max_size=max_size))


@st.composite
def cached_records(draw, schema, max_size=12):
    """Records as ``Cache.store_page`` takes them (column name -> value, None for unset)."""
    values = _cached_values(schema, draw(st.booleans()))
    return draw(st.lists(st.fixed_dictionaries(dict(zip(schema.names, values))), max_size=max_size))
