"""Exports: records, events and the daily panel as files the next tool reads natively, and the
panel in alphalens' and Qlib's input formats.  docs/exports.md shows every layout.

- **Parquet**: one hive-partitioned dataset per frame, ``NAME/market=HK/year=2026/part-0.parquet``,
  written by ``pyarrow.dataset.write_dataset``, that DuckDB (``read_parquet(..., hive_partitioning
  = true)``), Polars and ``pyarrow.dataset`` read as one table.  The frame's types are kept
  (``Int64`` as nullable int64, ``string`` as string, timestamps with their time zone); ``market``
  and ``year`` are the partition columns, so readers put them last.
- **CSV, JSONL**: one file per frame, ``NAME.csv`` / ``NAME.jsonl``, not partitioned.

A re-export replaces what the last one wrote under the same name, whole: the new dataset (or file) is
written beside the old one and then renamed into its place.  pyarrow's own
``existing_data_behavior`` cannot do that: ``"delete_matching"`` deletes only the partitions it
writes, so a year that no longer has rows would survive from the old export, and
``"overwrite_or_ignore"`` leaves the old files beside the new ones.  A directory holding anything
an export does not write is never replaced (:class:`InvalidArgument`).

Nothing here imports futu or moomoo; pyarrow is imported only by the Parquet writer.
"""

import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional, Sequence, Union

import pandas as pd

from ._cache import _SORT as RECORD_DATES  # the dates the cache orders records by, newest first
from ._codes import parse_code
from ._errors import InvalidArgument
from ._schema import HK, SCHEMA_BY_MARKET, A
from ._tidy import MARKET_ZONES

FORMATS = ("parquet", "csv", "jsonl")
#: Partition columns of every Parquet dataset, outermost first.
PARTITIONS = ("market", "year")
#: The column whose year files an event: when it became public, which every event has, and what
#: a point-in-time query filters on ("what was public by T" reads only the years up to T's).
EVENT_YEAR = "known_at"
#: Time zone each market's dates are in, for the ``year`` partition.
MARKET_ZONE = {market: MARKET_ZONES[schema.key] for market, schema in SCHEMA_BY_MARKET.items()}
PARQUET_EXTRA = "pip install 'futu-buybacks[parquet]'"

PathLike = Union[str, "os.PathLike[str]"]
_DATASET_FILE = re.compile(r"market=[^/]+/year=[^/]+/part-\d+\.parquet")
_QLIB_FILE = re.compile(r"[A-Z]{2}[0-9A-Z]+\.csv")


# ---- the three exports ---------------------------------------------------------------------------
def export_records(tables: Any, directory: PathLike, *, format: str = "parquet") -> List[Path]:
    """Write ``tables.hk_buy_back_list`` and ``tables.a_buy_back_list`` (a :class:`BuybackTables`)
    into ``directory``; returns the two paths written.

    Parquet: the datasets ``hk_buy_back_list/`` and ``a_buy_back_list/``, partitioned by
    ``market`` (HK, SH, SZ: the code's) and ``year`` (of the record's date in the market's time
    zone: HK ``end_date``, else ``publ_date``; A-share ``change_date``, else ``start_date``, else
    ``advance_date``).  CSV/JSONL: ``hk_buy_back_list.csv`` and ``a_buy_back_list.csv``, as
    ``futu-buybacks fetch`` writes them.  Extra columns (``first_seen``) are written like the others.
    """
    fmt, root = _check_format(format), _directory(directory)
    if fmt == "parquet":  # both, before either is replaced
        for schema in (HK, A):
            _check_replaceable(root / schema.key, _DATASET_FILE)
    paths = []
    for schema in (HK, A):
        frame = getattr(tables, schema.key, None)
        _check_frame(frame, ("code",), f"tables.{schema.key}")
        market = _markets(frame["code"])
        paths.append(_export(frame, market, _record_years(frame, schema), root, schema.key, fmt))
    return paths


def export_events(events: pd.DataFrame, directory: PathLike, *, format: str = "parquet") -> Path:
    """Write the events frame (``futu_buybacks.events(tables)``) into ``directory``; returns the path.

    Parquet: the dataset ``events/``, partitioned by its ``market`` column and ``year``: the year
    of ``known_at`` (when the event became public) in the market's time zone; a tz-naive
    ``known_at`` is taken as the market's time.  CSV/JSONL: ``events.csv`` / ``events.jsonl``.
    Only ``code``, ``market`` and ``known_at`` are required; every column is written.
    """
    fmt, root = _check_format(format), _directory(directory)
    _check_frame(events, ("code", "market", EVENT_YEAR), "events")
    market = events["market"].astype("string")
    return _export(events, market, _event_years(events[EVENT_YEAR], market), root, "events", fmt)


def export_panel(panel: pd.DataFrame, directory: PathLike, *, format: str = "parquet") -> Path:
    """Write the daily panel (``futu_buybacks.daily_panel(...)``) into ``directory``; returns the path.

    The (``date``, ``code``) index becomes the first two columns.  Parquet: the dataset
    ``panel/``, partitioned by ``market`` (the code's) and ``year`` (the session date's).
    CSV/JSONL: ``panel.csv`` / ``panel.jsonl``, dates as ``YYYY-MM-DD``.
    """
    fmt, root = _check_format(format), _directory(directory)
    frame = _panel_frame(panel)
    market = _markets(frame["code"])
    return _export(frame, market, frame["date"].dt.year.astype("Int64"), root, "panel", fmt)


# ---- research formats ----------------------------------------------------------------------------
def to_alphalens(panel: pd.DataFrame, column: str, *, tz: Optional[str] = None) -> pd.Series:
    """One column of the daily panel as the factor alphalens' ``get_clean_factor_and_forward_returns``
    takes: a Series named ``column`` indexed by (``date``, ``asset``), sorted, whose date level
    holds only the dates present (alphalens infers the trading calendar from it).

    Assets are the panel's codes (``"HK.00700"``), so the prices frame's columns must be too.
    Dates stay tz-naive session dates, to match a tz-naive prices index; ``tz="UTC"`` (or any
    zone) localizes them, for a prices index in that zone: alphalens refuses a factor and prices
    in different zones.
    """
    frame = _panel_frame(panel)
    if not isinstance(column, str) or column not in panel.columns:
        raise InvalidArgument(f"column must be one of the panel's columns ({', '.join(map(str, panel.columns))}), "
                              f"got {column!r}")
    dates = pd.DatetimeIndex(frame["date"])
    if tz is not None:
        dates = dates.tz_localize(tz) if dates.tz is None else dates.tz_convert(tz)
    index = pd.MultiIndex.from_arrays([dates, frame["code"].to_numpy(dtype=object)], names=["date", "asset"])
    return pd.Series(frame[column].array, index=index, name=column).sort_index()


def qlib_symbol(code: str) -> str:
    """Qlib's name for a code: its market prefix and symbol without the dot (``SH.600519`` ->
    ``SH600519``, ``HK.00700`` -> ``HK00700``)."""
    security = parse_code(code)
    return f"{security.market_name}{security.symbol}"


def to_qlib(panel: pd.DataFrame, directory: PathLike, *, columns: Optional[Sequence[str]] = None) -> List[Path]:
    """One CSV per symbol of the daily panel in ``directory``, as Qlib's ``scripts/dump_bin.py``
    reads them; returns the files written, in symbol order.

    Each file is ``<SYMBOL>.csv`` (:func:`qlib_symbol`: ``SH600519.csv``, ``HK00700.csv``) with
    the columns ``date`` (``YYYY-MM-DD``), ``symbol``, then ``columns`` (every panel column by
    default), one row per session date in order.  Dump it into an existing Qlib data directory
    with ``dump_bin.py dump_fix --data_path DIRECTORY --qlib_dir QLIB_DIR --freq day
    --date_field_name date --symbol_field_name symbol --exclude_fields date,symbol``.
    ``directory`` is the export's own: a re-export replaces it whole, and one holding other files
    is refused.
    """
    frame = _panel_frame(panel)
    fields = list(panel.columns) if columns is None else list(columns)
    for name in fields:
        if name not in panel.columns or name in ("date", "symbol"):
            raise InvalidArgument(f"columns must name the panel's columns ({', '.join(map(str, panel.columns))}), "
                                  f"got {name!r}")
    target = Path(directory)
    _check_replaceable(target, _QLIB_FILE)
    written = []

    def write(staged: Path) -> None:
        for code, rows in frame.groupby("code", sort=True):
            symbol = qlib_symbol(code)
            rows = rows.sort_values("date", kind="stable")
            out = pd.DataFrame({"date": rows["date"].dt.strftime("%Y-%m-%d").to_numpy(),
                                "symbol": symbol, **{name: rows[name].to_numpy() for name in fields}})
            out.to_csv(staged / f"{symbol}.csv", index=False)
            written.append(target / f"{symbol}.csv")

    _replace_dir(target, write)
    return written


# ---- JSON lines ----------------------------------------------------------------------------------
def write_jsonl(frame: pd.DataFrame, path: PathLike) -> None:
    """One JSON object per row, floats as the shortest text that reads back as the same float.

    pandas' ``to_json`` rounds floats to ``double_precision`` decimals (10 by default, 15 at
    most): 1000880717.6 became 1000880717.6000000238 and 1e-300 became 0.0.  ``json.dumps``
    writes ``repr(float)``, which round-trips exactly.  Missing values (``<NA>``, NaN, NaT) are
    null, as pandas wrote them.  Timestamps are ISO 8601 (``2026-04-09T00:00:00+08:00``); a
    tz-naive column of dates only (the panel's ``date``) is written as ``2026-04-09``, as CSV does.
    """
    out_frame = frame.copy(deep=False)
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(column.dtype):
            naive_dates = column.dt.tz is None and bool((column.dropna() == column.dropna().dt.normalize()).all())
            text = column.dt.strftime("%Y-%m-%d") if naive_dates else column.map(
                lambda value: None if pd.isna(value) else value.isoformat())
            out_frame[name] = text.astype(object).where(column.notna(), None)

    def cell(value: Any) -> Any:
        if value is pd.NA or value is pd.NaT or value is None:
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for row in out_frame.to_dict("records"):  # Python ints, floats and str
            out.write(json.dumps({str(k): cell(v) for k, v in row.items()}, ensure_ascii=False) + "\n")


# ---- the writers ---------------------------------------------------------------------------------
def _export(frame: pd.DataFrame, market: pd.Series, year: pd.Series, root: Path, name: str, fmt: str) -> Path:
    """``frame`` as ``root/name`` (a dataset partitioned by ``market`` and ``year``) or ``root/name.fmt``."""
    if fmt == "parquet":
        if "year" in frame.columns:
            raise InvalidArgument(f"{name} has a column 'year', the name of the Parquet export's partition column")
        target = root / name
        _write_dataset(frame.drop(columns=[c for c in PARTITIONS if c in frame.columns]), market, year, target)
        return target
    path = root / f"{name}.{fmt}"
    _replace_file(path, lambda tmp: frame.to_csv(tmp, index=False) if fmt == "csv" else write_jsonl(frame, tmp))
    return path


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.dataset  # noqa: F401
    except ImportError:
        raise ImportError(f"exporting Parquet needs pyarrow: {PARQUET_EXTRA}") from None
    return pyarrow


def _write_dataset(data: pd.DataFrame, market: pd.Series, year: pd.Series, target: Path) -> None:
    """The hive-partitioned dataset at ``target``: ``market=M/year=Y/part-0.parquet``.

    The pandas metadata describes the data columns only, so ``pandas.read_parquet(target)``
    brings back ``Int64`` and ``string`` (and the partitions as categories).  Strings are written
    as Arrow ``string`` whatever pandas stored them in (pandas 3 with pyarrow gives
    ``large_string``), so every export has the same schema.  One thread, in the frame's row
    order: the files are the same for the same frame.  An empty frame gives an empty directory
    (a file of no rows would need partition values, and a null one leaves readers unable to
    type the column).
    """
    pa = _pyarrow()
    table = pa.Table.from_pandas(data, preserve_index=False)
    fields = [f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in table.schema]
    table = table.cast(pa.schema(fields, metadata=table.schema.metadata))
    table = table.append_column("market", pa.array(market.astype(object).where(market.notna(), None).tolist(),
                                                   pa.string()))
    table = table.append_column("year", pa.array(year.astype("Int64"), pa.int32(), from_pandas=True))
    partitioning = pa.dataset.partitioning(pa.schema([("market", pa.string()), ("year", pa.int32())]),
                                           flavor="hive")
    _check_replaceable(target, _DATASET_FILE)

    def write(staged: Path) -> None:
        pa.dataset.write_dataset(table, staged, format="parquet", partitioning=partitioning,
                                 basename_template="part-{i}.parquet", use_threads=False,
                                 existing_data_behavior="error")

    _replace_dir(target, write)


def _check_replaceable(target: Path, ours: "re.Pattern[str]") -> None:
    """Refuse to replace ``target`` unless it is missing or holds only files an export writes."""
    if not target.exists():
        return
    if not target.is_dir():
        raise InvalidArgument(f"{target} exists and is not a directory; remove it or export elsewhere")
    for path in sorted(target.rglob("*")):
        relative = path.relative_to(target).as_posix()
        if path.is_file() and not ours.fullmatch(relative):
            raise InvalidArgument(f"{target} holds {relative}, which an export does not write: not replacing it; "
                                  "remove it or export elsewhere")


def _replace_dir(target: Path, write: Callable[[Path], None]) -> None:
    """Write a new ``target`` beside it, then rename it into place and delete the old one; if
    anything fails, the old one stays where it was."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    aside = None
    try:
        write(staged)
        if target.exists():
            aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            target.rename(aside / target.name)
        staged.rename(target)
    except BaseException:
        if aside is not None and (aside / target.name).exists():
            (aside / target.name).rename(target)
        shutil.rmtree(staged, ignore_errors=True)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def _replace_file(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary file renamed over it: a reader sees the old or the new one."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.partial-", dir=path.parent)
    os.close(fd)
    try:
        write(Path(name))
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


# ---- checks and derived columns ------------------------------------------------------------------
def _check_format(fmt: Any) -> str:
    if fmt not in FORMATS:
        raise InvalidArgument(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "parquet":
        _pyarrow()
    return fmt


def _directory(directory: Any) -> Path:
    if not isinstance(directory, (str, os.PathLike)):
        raise InvalidArgument(f"directory must be a path, got {type(directory).__name__} {directory!r}")
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise InvalidArgument(f"{root} is not a directory (a file of that name exists)")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _check_frame(frame: Any, required: Iterable[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InvalidArgument(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [name for name in required if name not in frame.columns]
    if missing:
        raise InvalidArgument(f"{what} has no column {', '.join(map(repr, missing))} (it has: "
                              f"{', '.join(map(str, frame.columns))})")


def _panel_frame(panel: Any) -> pd.DataFrame:
    """The panel with its (date, code) index as its first two columns."""
    if not isinstance(panel, pd.DataFrame):
        raise InvalidArgument(f"panel must be a pandas DataFrame, got {type(panel).__name__}")
    names = list(panel.index.names)
    if not isinstance(panel.index, pd.MultiIndex) or sorted(map(str, names)) != ["code", "date"]:
        raise InvalidArgument(f"panel must be indexed by (date, code), as daily_panel() returns; its index is "
                              f"{names}")
    frame = panel.reset_index()
    frame = frame[["date", "code", *[c for c in frame.columns if c not in ("date", "code")]]]
    if not pd.api.types.is_datetime64_dtype(frame["date"].dtype):
        frame["date"] = pd.to_datetime(frame["date"])
    return frame


def _markets(codes: pd.Series) -> pd.Series:
    """``HK``, ``SH`` or ``SZ``: the part of each code before the dot."""
    return codes.astype("string").str.split(".", n=1).str[0]


def _record_years(frame: pd.DataFrame, schema: Any) -> pd.Series:
    """The year of each record's date (first set of ``RECORD_DATES``), in the market's zone."""
    seconds = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    for name in RECORD_DATES[schema.key]:
        if name in frame.columns:
            seconds = seconds.fillna(frame[name].astype("Int64"))
    moments = pd.to_datetime(seconds.astype("float64"), unit="s", utc=True)
    return moments.dt.tz_convert(MARKET_ZONES[schema.key]).dt.year.astype("Int64")


def _event_years(known_at: pd.Series, market: pd.Series) -> pd.Series:
    """The year of each event's ``known_at`` in its market's zone (UTC for another market; as it
    is if tz-naive)."""
    moments = pd.to_datetime(known_at)
    if moments.dt.tz is None:
        return moments.dt.year.astype("Int64")
    zones = market.map(MARKET_ZONE).fillna("UTC")
    years = pd.Series(pd.NA, index=known_at.index, dtype="Int64")
    for zone in zones.unique():
        rows = zones == zone
        years[rows] = moments[rows].dt.tz_convert(zone).dt.year.astype("Int64")
    return years
