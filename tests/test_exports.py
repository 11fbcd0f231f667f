"""Exports: hive-partitioned Parquet read back by DuckDB, Polars and pyarrow.dataset; CSV and JSONL;
the alphalens factor and the Qlib CSVs; ``futu-buybacks export``."""

import json
import subprocess
import sys
from pathlib import Path

import exports_frames as frames
import numpy as np
import pandas as pd
import pytest

from futu_buybacks import (
    BuybackTables,
    InvalidArgument,
    _cli,
    export_events,
    export_panel,
    export_records,
    qlib_symbol,
    to_alphalens,
    to_qlib,
)
from futu_buybacks._cache import Cache
from futu_buybacks._schema import HK, A
from futu_buybacks._tidy import tidy_frame


def _has(module: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(module) is not None


needs_pyarrow = pytest.mark.skipif(not _has("pyarrow"), reason="pyarrow not installed (the parquet extra)")


def files(root: Path):
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


#: DuckDB's names of a timestamp with and without a zone (2.0 keeps nanoseconds as *_NS; 1.x
#: reads a zoned one in microseconds).
ZONED = {"TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ_NS"}
NAIVE = {"TIMESTAMP", "TIMESTAMP_NS"}


def duckdb_table(path: Path):
    duckdb = pytest.importorskip("duckdb")
    relation = duckdb.sql(f"SELECT * FROM read_parquet('{path.as_posix()}/**/*.parquet', hive_partitioning = true)")
    return dict(zip(relation.columns, map(str, relation.types))), relation.df()


# ---- Parquet -------------------------------------------------------------------------------------
@needs_pyarrow
def test_records_are_two_hive_datasets_duckdb_reads_with_their_types(tmp_path):
    tables = frames.records()
    paths = export_records(tables, tmp_path)
    assert paths == [tmp_path / "hk_buy_back_list", tmp_path / "a_buy_back_list"]
    # the HK record of 1 January 2026 is 2025 in UTC: filed by the market's calendar
    assert files(tmp_path) == ["a_buy_back_list/market=SH/year=2026/part-0.parquet",
                               "a_buy_back_list/market=SZ/year=2025/part-0.parquet",
                               "hk_buy_back_list/market=HK/year=2025/part-0.parquet",
                               "hk_buy_back_list/market=HK/year=2026/part-0.parquet"]
    for schema, frame in ((HK, tables.hk_buy_back_list), (A, tables.a_buy_back_list)):
        types, read = duckdb_table(tmp_path / schema.key)
        assert list(types) == [*frame.columns, "market", "year"]
        kinds = {"int": "BIGINT", "float": "DOUBLE", "str": "VARCHAR"}
        assert types.pop("first_seen") in ZONED
        assert types == {"code": "VARCHAR", **{c.name: kinds[c.kind] for c in schema.columns},
                         "market": "VARCHAR", "year": "BIGINT"}
        assert len(read) == len(frame)
    _, hk = duckdb_table(tmp_path / "hk_buy_back_list")
    hk = hk.sort_values(["code", "end_date"], na_position="first").reset_index(drop=True)
    assert hk["year"].tolist() == [2026, 2026, 2025]
    assert hk["buy_back_money"].tolist() == [1e-300, 1000880717.6, 2.5]
    assert pd.isna(hk["buy_back_sum"][0]) and hk["buy_back_sum"][1] == 1964000
    import duckdb  # its .df() drops the zone of TIMESTAMPTZ_NS; the value, to the nanosecond:
    seen = duckdb.sql(f"SELECT DISTINCT epoch_ns(first_seen) FROM read_parquet('{tmp_path.as_posix()}"
                      "/hk_buy_back_list/**/*.parquet', hive_partitioning = true)").fetchall()
    assert seen == [(pd.Timestamp("2026-04-10 01:02:03.456789", tz="UTC").value,)]


@needs_pyarrow
def test_events_read_as_one_table_by_duckdb_polars_and_pyarrow_dataset(tmp_path):
    import pyarrow as pa
    import pyarrow.dataset as ds
    events = frames.events()
    assert export_events(events, tmp_path) == tmp_path / "events"
    # HK.01810 became public at 01:30 on 1 January 2026 in Hong Kong (2025 in UTC): year=2026
    assert files(tmp_path / "events") == ["market=HK/year=2026/part-0.parquet", "market=SH/year=2026/part-0.parquet",
                                          "market=SZ/year=2025/part-0.parquet"]
    types, read = duckdb_table(tmp_path / "events")
    assert types["known_at"] in ZONED and types["event_date"] in NAIVE
    assert (types["shares"], types["money"], types["stage_raw"]) == ("BIGINT", "DOUBLE", "VARCHAR")
    assert len(read) == 4 and set(read["market"]) == {"HK", "SH", "SZ"}

    table = ds.dataset(tmp_path / "events", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 4
    schema = table.schema
    assert schema.field("known_at").type == pa.timestamp(events["known_at"].dt.unit, tz="UTC")
    assert schema.field("shares").type == pa.int64() and schema.field("code").type == pa.string()
    assert (schema.field("market").type, schema.field("year").type) == (pa.string(), pa.int32())
    back = table.to_pandas().sort_values("code").reset_index(drop=True)
    pd.testing.assert_frame_equal(back[events.columns.drop("market")], events.drop(columns="market"))
    assert back["year"].tolist() == [2026, 2026, 2026, 2025]

    if not _has("polars"):
        pytest.skip("polars not installed")
    import polars as pl
    lazy = pl.scan_parquet(str(tmp_path / "events" / "**" / "*.parquet"), hive_partitioning=True)
    got = lazy.filter(pl.col("year") == 2026).collect()
    assert got.height == 3
    assert got.schema["known_at"] == pl.Datetime(events["known_at"].dt.unit, "UTC")
    assert (got.schema["shares"], got.schema["market"], got.schema["year"]) == (pl.Int64, pl.String, pl.Int64)


@needs_pyarrow
def test_panel_dataset_reads_back_into_the_same_panel(tmp_path):
    panel = frames.panel()
    export_panel(panel, tmp_path)
    assert files(tmp_path / "panel") == [f"market={m}/year={y}/part-0.parquet"
                                         for m in ("HK", "SH", "SZ") for y in (2025, 2026)]
    types, read = duckdb_table(tmp_path / "panel")
    assert list(types)[:2] == ["date", "code"] and types["records_20"] == "BIGINT" and types["money"] == "DOUBLE"
    assert len(read) == len(panel)
    back = pd.read_parquet(tmp_path / "panel").drop(columns=["market", "year"])
    back = back.set_index(["date", "code"]).sort_index()
    back.index = back.index.set_levels(back.index.levels[1].astype(panel.index.levels[1].dtype), level=1)
    pd.testing.assert_frame_equal(back, panel.sort_index(), check_index_type=False)


@needs_pyarrow
def test_a_reexport_replaces_the_old_dataset_and_writes_the_same_bytes(tmp_path):
    events = frames.events()
    export_events(events, tmp_path / "one")
    export_events(events, tmp_path / "two")
    assert files(tmp_path / "one") == files(tmp_path / "two")
    for name in files(tmp_path / "one"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    export_events(events[events["market"] == "SH"], tmp_path / "one")  # SZ and HK are gone, not left beside
    assert files(tmp_path / "one") == ["events/market=SH/year=2026/part-0.parquet"]
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["events"]  # nothing staged is left behind


@needs_pyarrow
def test_a_record_without_any_date_goes_to_the_null_partition(tmp_path):
    empty = ("HK.00700", *[None] * len(HK.names), None)
    dated = ("HK.00700", frames.unix("2026-02-02"), *[None] * (len(HK.names) - 1), None)
    export_records(BuybackTables(tidy_frame(HK, [empty, dated]), tidy_frame(A, [])), tmp_path)
    assert files(tmp_path / "hk_buy_back_list") == ["market=HK/year=2026/part-0.parquet",
                                                    "market=HK/year=__HIVE_DEFAULT_PARTITION__/part-0.parquet"]
    _, read = duckdb_table(tmp_path / "hk_buy_back_list")
    assert read["year"].isna().sum() == 1 and read["year"].max() == 2026
    assert list((tmp_path / "a_buy_back_list").iterdir()) == []  # an empty frame: an empty dataset


@needs_pyarrow
def test_a_directory_holding_other_files_is_not_replaced(tmp_path):
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InvalidArgument, match=r"holds notes.txt, which an export does not write"):
        export_events(frames.events(), tmp_path)
    assert (tmp_path / "events" / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"pip install 'futu-buybacks\[parquet\]'"):
        export_panel(frames.panel(), tmp_path)


# ---- CSV, JSONL ----------------------------------------------------------------------------------
def test_csv_and_jsonl_are_one_file_per_frame(tmp_path):
    export_events(frames.events(), tmp_path, format="jsonl")
    export_panel(frames.panel(), tmp_path, format="csv")
    export_panel(frames.panel(), tmp_path, format="jsonl")
    assert export_records(frames.records(), tmp_path, format="csv") == [tmp_path / "hk_buy_back_list.csv",
                                                                        tmp_path / "a_buy_back_list.csv"]
    assert files(tmp_path) == ["a_buy_back_list.csv", "events.jsonl", "hk_buy_back_list.csv", "panel.csv",
                               "panel.jsonl"]
    first = json.loads((tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["known_at"] == "2026-04-09T10:30:00+00:00" and first["event_date"] == "2026-04-09"
    assert first["money"] == 1000880717.6 and first["stage_raw"] is None
    last = json.loads((tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert last["shares"] is None and last["money"] is None
    panel_row = json.loads((tmp_path / "panel.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert list(panel_row)[:3] == ["date", "code", "shares"] and panel_row["date"] == "2025-12-29"
    csv = pd.read_csv(tmp_path / "panel.csv")
    assert csv["date"][0] == "2025-12-29" and len(csv) == len(frames.panel())
    hk = pd.read_csv(tmp_path / "hk_buy_back_list.csv")
    assert hk["buy_back_money"].tolist() == [1000880717.6, 1e-300, 2.5]


@pytest.mark.parametrize("call, message", [
    (lambda d: export_panel(frames.panel(), d, format="xlsx"), "format must be one of parquet, csv, jsonl"),
    (lambda d: export_panel(frames.panel().reset_index(), d, format="csv"), "panel must be indexed by"),
    (lambda d: export_events(frames.events().drop(columns="known_at"), d, format="csv"), "no column 'known_at'"),
    (lambda d: to_alphalens(frames.panel(), "nope"), "column must be one of the panel's columns"),
    (lambda d: to_qlib(frames.panel(), d, columns=["symbol"]), "columns must name the panel's columns"),
])
def test_bad_input_is_refused_with_what_is_accepted(tmp_path, call, message):
    with pytest.raises(InvalidArgument, match=message):
        call(tmp_path)


# ---- alphalens -----------------------------------------------------------------------------------
def test_alphalens_factor_is_a_date_asset_series():
    panel = frames.panel()
    factor = to_alphalens(panel.iloc[::-1], "money_20")  # order of the panel does not matter
    assert factor.name == "money_20" and factor.index.names == ["date", "asset"]
    assert factor.index.is_monotonic_increasing and factor.index.is_unique
    assert list(factor.index.levels[0]) == list(pd.bdate_range("2025-12-29", "2026-01-06"))
    assert factor.index.levels[0].tz is None
    assert factor.loc[(pd.Timestamp("2026-01-02"), "SH.600519")] == panel.loc[(pd.Timestamp("2026-01-02"),
                                                                               "SH.600519"), "money_20"]
    # a slice of the panel gives a factor whose date level holds only its own dates
    assert len(to_alphalens(panel.loc[pd.Timestamp("2026-01-05"):], "records").index.levels[0]) == 2
    assert str(to_alphalens(panel, "records", tz="UTC").index.levels[0].tz) == "UTC"


@pytest.mark.skipif(not _has("alphalens"), reason="alphalens-reloaded not installed (the research extra)")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:alphalens")  # its own use of pandas, not ours
def test_alphalens_takes_the_factor_with_a_prices_frame():
    """The one test that imports alphalens (about 7 s of CPU: scipy, statsmodels, matplotlib)."""
    from alphalens.utils import get_clean_factor_and_forward_returns
    panel = frames.panel()
    factor = to_alphalens(panel, "percentage_20")
    dates = pd.bdate_range("2025-12-29", "2026-01-16")  # the panel's dates and a buffer for 5-day returns
    rng = np.random.default_rng(0)
    prices = pd.DataFrame(100 + rng.standard_normal((len(dates), len(frames.CODES))).cumsum(axis=0),
                          index=dates, columns=frames.CODES)
    data = get_clean_factor_and_forward_returns(factor, prices, quantiles=2, periods=(1, 5), max_loss=1.0)
    assert data.index.names == ["date", "asset"] and set(data.columns) >= {"1D", "5D", "factor", "factor_quantile"}
    assert len(data) == len(factor)
    assert (data["factor"] == factor.loc[data.index]).all()


# ---- Qlib ----------------------------------------------------------------------------------------
def test_qlib_symbols():
    assert [qlib_symbol(code) for code in frames.CODES] == ["HK00700", "HK01810", "SH600519", "SZ000001"]
    with pytest.raises(InvalidArgument):
        qlib_symbol("US.AAPL")


def test_qlib_csvs_read_as_dump_bin_reads_them(tmp_path):
    """What scripts/dump_bin.py does with DIR: every ``*.csv``, the symbol from the file's stem
    lower-cased, ``date`` parsed, every field but the excluded ``date,symbol`` as float32 (it reads
    with pandas' float parser, which may differ in the last bit; here Python's, to compare exactly)."""
    panel = frames.panel()
    written = to_qlib(panel, tmp_path / "qlib")
    assert [p.name for p in written] == ["HK00700.csv", "HK01810.csv", "SH600519.csv", "SZ000001.csv"]
    assert files(tmp_path / "qlib") == [p.name for p in written]
    for path in sorted((tmp_path / "qlib").glob("*.csv")):
        df = pd.read_csv(path, low_memory=False, converters=dict.fromkeys(panel.columns, float))  # exactly
        assert list(df.columns) == ["date", "symbol", *panel.columns]
        assert set(df["symbol"]) == {path.stem} and path.stem.lower() in ("hk00700", "hk01810", "sh600519", "sz000001")
        df["date"] = pd.to_datetime(df["date"])
        code = frames.CODES[[qlib_symbol(c) for c in frames.CODES].index(path.stem)]
        expected = panel.xs(code, level="code")
        assert list(df["date"]) == list(expected.index)
        for field in set(df.columns) - {"date", "symbol"}:
            np.testing.assert_array_equal(df[field].to_numpy(), expected[field].to_numpy())
            df[field].to_numpy().astype("<f")
    to_qlib(panel.drop(index="HK.01810", level="code"), tmp_path / "qlib", columns=["money_20"])
    assert files(tmp_path / "qlib") == ["HK00700.csv", "SH600519.csv", "SZ000001.csv"]
    assert pd.read_csv(tmp_path / "qlib" / "HK00700.csv").columns.tolist() == ["date", "symbol", "money_20"]


# ---- futu-buybacks export ------------------------------------------------------------------------
def cache_with_records(path: Path, tables: BuybackTables, source: str = "simulator:test") -> None:
    """A cache as a load through the OpenD at 127.0.0.1:11111 leaves it."""
    with Cache(path) as cache:
        cache.confirm_source("127.0.0.1:11111", source, 1.0)
        for schema in (HK, A):
            frame = getattr(tables, schema.key)
            for code, rows in frame.groupby("code", sort=False):
                records = [{k: (None if pd.isna(v) else v) for k, v in r.items() if k in schema.names}
                           for r in rows.to_dict("records")]
                cache.store_page(cache.begin_full_fetch(source, code, 1.0), records, next_key="-1", now=1.0)


@needs_pyarrow
def test_export_command_writes_every_cached_code_without_connecting(tmp_path):
    cache = tmp_path / "c.sqlite3"
    cache_with_records(cache, frames.records(first_seen=False))
    result = subprocess.run([sys.executable, "-m", "futu_buybacks", "export", str(tmp_path / "out"), "--what",
                             "records", "--cache", str(cache)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == (f"futu-buybacks: exported 3 HK and 2 A-share records of 4 codes (simulator:test) to "
                             f"{tmp_path / 'out' / 'hk_buy_back_list'}, {tmp_path / 'out' / 'a_buy_back_list'}\n")
    types, read = duckdb_table(tmp_path / "out" / "a_buy_back_list")
    assert len(read) == 2 and types["change_date"] == "BIGINT" and types["year"] == "BIGINT"
    assert sorted(read["code"]) == ["SH.600519", "SZ.000001"]


def test_export_command_runs_events_and_daily_panel_lazily(tmp_path, monkeypatch, capsys):
    import futu_buybacks
    cache = tmp_path / "c.sqlite3"
    cache_with_records(cache, frames.records(first_seen=False))
    calls = []

    def events(tables):
        calls.append(("events", len(tables.hk_buy_back_list), len(tables.a_buy_back_list)))
        return frames.events()

    def daily_panel(events, start, end):
        calls.append(("daily_panel", len(events), start, end))
        return frames.panel()

    monkeypatch.setattr(futu_buybacks, "events", events, raising=False)
    monkeypatch.setattr(futu_buybacks, "daily_panel", daily_panel, raising=False)
    out = tmp_path / "out"
    assert _cli.main(["export", str(out), "HK.00700", "--what", "events", "--format", "csv", "--cache",
                      str(cache)]) == 0
    assert calls == [("events", 2, 0)]
    assert "exported 4 events of 4 codes (simulator:test)" in capsys.readouterr().err
    assert _cli.main(["export", str(out), "--what", "panel", "--format", "jsonl", "--cache", str(cache),
                      "--start", "2025-12-29", "--end", "2026-01-06"]) == 0
    assert calls[-1] == ("daily_panel", 4, pd.Timestamp("2025-12-29"), pd.Timestamp("2026-01-06"))
    assert files(out) == ["events.csv", "panel.jsonl"]
    assert _cli.main(["export", str(out), "--what", "panel", "--format", "csv", "--cache", str(cache)]) == 2
    assert "--what panel needs --start and --end" in capsys.readouterr().err
    with pytest.raises(futu_buybacks.BuybacksError, match=r"--what events needs futu_buybacks.no_such\(\)"):
        _cli._research_step("no_such", "events")


# ---- docs/exports.md -----------------------------------------------------------------------------
DOC = (Path(__file__).resolve().parents[1] / "docs" / "exports.md").read_text(encoding="utf-8")


def doc_block(after: str, language: str) -> str:
    return DOC.split(after, 1)[1].split(f"```{language}\n", 1)[1].split("```", 1)[0]


@needs_pyarrow
def test_documented_layout_and_reading_example(tmp_path, monkeypatch):
    """The layout block is what the export writes for the test frames; the reading example runs."""
    pytest.importorskip("duckdb")
    pytest.importorskip("polars")
    monkeypatch.chdir(tmp_path)
    export_records(frames.records(), "out")
    export_events(frames.events(), "out")
    export_panel(frames.panel(), "out")
    assert doc_block("<!-- layout", "text").split() == [f"out/{name}" for name in files(tmp_path / "out")]
    namespace = {}
    exec(doc_block("`with_timestamps` turns a frame's into timestamps.", "python"), namespace)
    assert namespace["events"]["code"].tolist() == ["HK.00700", "HK.01810"]
    assert namespace["panel"].height == len(frames.panel().xs("SH.600519", level="code"))
    assert namespace["records"].num_rows == 3
