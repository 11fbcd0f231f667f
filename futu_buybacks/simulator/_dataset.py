"""The simulator's data: buyback records per security, served newest first.

File format (JSON Lines, UTF-8): one record per line, an object with ``"code"`` (``"HK.00700"``)
and any of the columns of that market's frame (``docs/api.md``), named as in the SDK's frames.
A column left out (or ``null``) is a field the server does not set, which the SDK shows as NaN.
Records of one code are served in file order, which should be newest first.  Lines that are
blank or start with ``#`` are skipped.  A file is checked when it is loaded (and records given in
code when the dataset is made), so that a wrong value is reported with its line and column instead
of breaking every reply for that code.
"""

import datetime as dt
import functools
import json
import random
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

from google.protobuf.descriptor import FieldDescriptor

from .._codes import END_KEY, parse_code
from .._messages import PROTO_BUYBACKS, response_class
from .._schema import HK, SCHEMA_BY_MARKET, A, FrameSchema

Record = Dict[str, object]
SAMPLE = Path(__file__).with_name("sample_buybacks.jsonl")


class Dataset:
    """Records by code, in serving order; ``page()`` implements the server's paging."""

    def __init__(self, records: Optional[Mapping[str, List[Record]]] = None, name: str = "custom"):
        self.name = name  # what the simulator announces itself as (the cache's source key)
        self.records: Dict[str, List[Record]] = {code: list(rows) for code, rows in (records or {}).items()}
        for code, rows in self.records.items():
            for number, row in enumerate(rows, 1):
                problem = record_problem(code, row)
                if problem:
                    raise ValueError(f"{code} record {number}: {problem}")

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Dataset":
        """Read a JSON Lines file (a UTF-8 BOM is allowed); ``ValueError`` names the line at fault."""
        by_code: Dict[str, List[Record]] = {}
        with open(path, encoding="utf-8-sig") as lines:
            for number, line in enumerate(lines, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                try:
                    code, row = _parse_line(line)
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: {exc}") from None
                by_code.setdefault(code, []).append(row)
        name = "sample" if Path(path).resolve() == SAMPLE.resolve() else Path(path).stem
        return cls(by_code, name=name)

    @classmethod
    def sample(cls) -> "Dataset":
        """The bundled sample (its HK.00700 starts with the three rows of the vendor's example)."""
        return cls.load(SAMPLE)

    def dump(self, path: Union[str, Path]) -> None:
        with open(path, "w", encoding="utf-8") as out:
            for code, rows in self.records.items():
                for row in rows:
                    out.write(json.dumps({"code": code, **row}, ensure_ascii=False) + "\n")

    def page(self, code: str, next_key: Optional[str], num: int) -> Tuple[List[Record], str]:
        """Rows of one page and the key of the next (``"-1"`` at the end).

        Keys are offsets in decimal; raises ``KeyError`` for an unknown code and ``ValueError``
        for a key this server never issued.
        """
        return page_rows(self.records[code], next_key, num)


def page_rows(rows: List[Record], next_key: Optional[str], num: int) -> Tuple[List[Record], str]:
    """One page of ``rows`` (:meth:`Dataset.page`, for rows of a code or none)."""
    if next_key in (None, ""):
        start = 0
    elif next_key == END_KEY:
        return [], END_KEY
    elif next_key.isdigit() and int(next_key) <= len(rows):
        start = int(next_key)
    else:
        raise ValueError(f"invalid nextKey {next_key!r}")
    end = start + num
    return rows[start:end], (str(end) if end < len(rows) else END_KEY)


def _parse_line(line: str) -> Tuple[str, Record]:
    row = json.loads(line)
    if not isinstance(row, dict):
        raise ValueError(f'expected a JSON object {{"code": "HK.00700", column: value, ...}}, '
                         f"got {type(row).__name__}")
    if "code" not in row:
        raise ValueError('"code" is missing')
    code = str(parse_code(row.pop("code")))
    row = {k: v for k, v in row.items() if v is not None}
    problem = record_problem(code, row)
    if problem:
        raise ValueError(f"{code} {problem}")
    return code, row


_EXPECTED = {"int": "an integer", "float": "a number", "str": "a string"}
_INT_RANGES = {"uint64": (0, 2**64 - 1), "int64": (-2**63, 2**63 - 1),
               "uint32": (0, 2**32 - 1), "int32": (-2**31, 2**31 - 1)}


@functools.cache
def _wire_ranges(market: str) -> Dict[str, Tuple[int, int]]:
    """Column -> (lowest, highest) integer its protobuf field holds, read from the descriptors."""
    schema = SCHEMA_BY_MARKET[market]
    item = response_class(PROTO_BUYBACKS).DESCRIPTOR.fields_by_name["s2c"].message_type \
        .fields_by_name[schema.list_field].message_type
    names = {getattr(FieldDescriptor, name): name[len("TYPE_"):].lower()
             for name in dir(FieldDescriptor) if name.startswith("TYPE_")}
    return {column.name: _INT_RANGES[names[item.fields_by_name[column.field].type]]
            for column in schema.columns if column.kind == "int"}


def record_problem(code: str, record: Mapping[str, object]) -> Optional[str]:
    """What is wrong with one record of ``code`` (column and what it expects), or None.

    The types are the schema's, the integer ranges the wire's (uint64 dates, int64 sums): a value
    the server could not put in a reply is refused here, where its line is known.
    """
    schema: FrameSchema = SCHEMA_BY_MARKET[code[:2]]
    columns = {column.name: column for column in schema.columns}
    unknown = sorted(set(record) - set(columns))
    if unknown:
        return f"unknown columns {unknown} (the {schema.key} columns are in docs/api.md)"
    for name, value in record.items():
        kind = columns[name].kind
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, {"int": int, "float": (int, float), "str": str}[kind]):
            unit = " (Unix seconds)" if kind == "int" and name.endswith("_date") else ""
            return f"{name} must be {_EXPECTED[kind]}{unit}, got {type(value).__name__} {value!r:.40}"
        if kind == "int":
            low, high = _wire_ranges(code[:2])[name]
            if not low <= value <= high:  # type: ignore[operator]
                return f"{name} is out of range: {value!r:.40} (the wire holds {low}..{high})"
        elif kind == "float" and isinstance(value, int) and abs(value) > 1e308:
            return f"{name} is out of range: {value!r:.40} (not a double)"
    return None


_ZONES = {"HK": dt.timezone(dt.timedelta(hours=8)), "SH": dt.timezone(dt.timedelta(hours=8)),
          "SZ": dt.timezone(dt.timedelta(hours=8))}


def _day(market: str, day: dt.date) -> Tuple[int, str]:
    """(Unix seconds of midnight in the market's zone, "YYYY-MM-DD")."""
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=_ZONES[market])
    return int(midnight.timestamp()), day.isoformat()


def synthetic_records(code: str, count: int, newest: dt.date = dt.date(2026, 4, 9), seed: int = 0) -> List[Record]:
    """``count`` plausible records for ``code``, newest first, deterministic for a seed."""
    market = code[:2]
    rng = random.Random(f"{code}/{seed}")
    records: List[Record] = []
    day = newest
    cumulative = rng.randrange(10_000_000, 100_000_000)
    for _ in range(count):
        day -= dt.timedelta(days=rng.choice((1, 1, 1, 3, 7)))
        ts, text = _day(market, day)
        shares = rng.randrange(100_000, 3_000_000, 1000)
        price = round(rng.uniform(5, 600), 1)
        if SCHEMA_BY_MARKET[market] is HK:
            records.append({
                "publ_date": ts + 86400, "publ_date_str": (day + dt.timedelta(days=1)).isoformat(),
                "end_date": ts, "end_date_str": text,
                "buy_back_money": round(shares * price, 1), "buy_back_sum": shares,
                "percentage": round(shares / 9.2e7, 6), "high_price": price,
                "low_price": round(price * 0.98, 1), "cumulative_sum": cumulative,
                "cumulative_percentage": round(cumulative / 9.2e8, 5), "share_type": "普通股",
            })
        else:
            start_ts, start_text = _day(market, day - dt.timedelta(days=90))
            advance_ts, advance_text = _day(market, day - dt.timedelta(days=120))
            record: Record = {
                "change_date": ts, "change_date_str": text,
                "event_proce_desc": rng.choice(("实施", "完成", "董事会预案")),
                "advance_date": advance_ts, "advance_date_str": advance_text,
                "start_date": start_ts, "start_date_str": start_text, "end_date": ts, "end_date_str": text,
                "buy_back_mode": "集中竞价", "share_type": "A股", "buy_back_sum": shares,
                "buy_back_money": round(shares * price, 2), "percentage": round(shares / 1.2e8, 4),
                "value_floor": 5.0e7, "value_ceiling": 1.0e8, "price_floor": round(price * 0.8, 2),
                "price_ceiling": round(price * 1.3, 2), "volume_floor": 1.0e6, "volume_ceiling": 3.0e6,
            }
            if rng.random() < 0.3:
                meet_ts, meet_text = _day(market, day - dt.timedelta(days=97))
                record.update(meet_pass_date=meet_ts, meet_pass_date_str=meet_text)
            records.append(record)
        cumulative -= shares
    return records


def synthetic_dataset(codes: Iterable[str], count: int, seed: int = 0) -> Dataset:
    """A dataset of ``count`` synthetic records for each code."""
    return Dataset({str(parse_code(c)): synthetic_records(str(parse_code(c)), count, seed=seed) for c in codes},
                   name="synthetic")


def record_to_item(record: Mapping[str, object], item: object) -> None:
    """Set the protobuf fields of ``item`` (an HK or A item message) from a record's columns."""
    schema = HK if item.DESCRIPTOR.name == "HKBuyBackItem" else A  # type: ignore[attr-defined]
    for column in schema.columns:
        value = record.get(column.name)
        if value is not None:
            setattr(item, column.field, value)
