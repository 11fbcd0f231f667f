"""``futu-buybacks`` / ``python -m futu_buybacks``: fetch every buyback record of many codes to files, export
what the cache holds (records, events, the daily panel) for research tools, look into the cache."""

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, List, Optional, Tuple

from . import __version__
from ._codes import NUM_MAX, NUM_MIN, check_num
from ._connect import DEFAULT_CONNECT_TIMEOUT
from ._errors import BuybacksError, InvalidArgument
from ._progress import plural
from ._ratelimit import VENDOR_RATE, parse_rate
from ._universe import parse_markets

FORMATS = ("csv", "parquet", "jsonl")
INTERRUPTED = "futu-buybacks: interrupted; what was fetched is cached, run again to finish"
DESCRIPTION = ("Fetch every share-buyback record (OpenD protocol 3235) of many codes into files, "
               "under the rate limit, through a cache that makes a rerun ask only for what is new.")
EXPORT_DESCRIPTION = ("Write what the cache holds, without connecting: the records, their events or the daily "
                      "panel, as a hive-partitioned Parquet dataset (market=HK/year=2026/...) or one CSV or "
                      "JSONL file. See docs/exports.md.")
REFRESH_DESCRIPTION = ("Check the codes most likely to have new buyback records first (never fetched, recent "
                       "records, A-share plans still open), the rest in rotation, within a budget of requests, "
                       "into the cache; print what was checked, what was new and what was skipped. "
                       "See docs/loader.md, \"Refreshing a market on a budget\".")
#: What ``export`` writes, and the function of futu_buybacks each one needs beyond the records.
EXPORTS = {"records": (), "events": ("events",), "panel": ("events", "daily_panel")}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="futu-buybacks", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"futu-buybacks {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch", help="fetch every record of the codes into DIR", description=DESCRIPTION)
    _add_what_and_where(fetch)
    fetch.add_argument("--opend", action="append", metavar="HOST:PORT",
                       help="an OpenD to share the codes with, each under its own rate limit; repeat it for "
                            "each account's OpenD (instead of --host/--port; default: none)")
    where = fetch.add_mutually_exclusive_group()
    where.add_argument("--cache", type=Path, help="cache file (default: the per-user cache)")
    where.add_argument("--no-cache", action="store_true", help="keep nothing between runs (default: off)")
    fetch.add_argument("--full", action="store_true",
                       help="refetch every page, ignoring what is cached (default: off)")
    fetch.add_argument("--out-dir", type=Path, required=True, metavar="DIR",
                       help="directory for the two files, created if missing (required)")
    fetch.add_argument("--format", choices=FORMATS, default="csv", help="file format (default: csv)")
    fetch.add_argument("--offline", action="store_true",
                       help="no connection: write what the cache holds from the OpenD at --host/--port "
                            "(default: off; a load always connects, and an unreachable OpenD is an error)")
    refresh = commands.add_parser("refresh", help="check the codes likeliest to have new records, within a budget",
                                  description=REFRESH_DESCRIPTION)
    _add_what_and_where(refresh)
    refresh.add_argument("--budget", default="25%",
                         help="what the run may spend: a share of one request per code (25%%), a number of "
                              "requests (100) or a time at --rate (10min, 90s, 2h) (default: 25%%)")
    refresh.add_argument("--cache", type=Path, help="cache file (default: the per-user cache)")
    export = commands.add_parser("export", help="write the cached records, their events or the daily panel into DIR",
                                 description=EXPORT_DESCRIPTION)
    export.add_argument("dir", type=Path, metavar="DIR", help="directory to write into, created if missing")
    export.add_argument("codes", nargs="*", metavar="CODE",
                        help="codes to export (default: every code cached from the OpenD at --host/--port)")
    export.add_argument("--what", choices=tuple(EXPORTS), required=True,
                        help="records: the two vendor tables; events: one row per buyback event; "
                             "panel: daily amounts per code (required)")
    export.add_argument("--format", choices=("parquet", "csv", "jsonl"), default="parquet",
                        help="parquet: a hive-partitioned dataset per table; csv, jsonl: one file (default: parquet)")
    export.add_argument("--codes-file", type=Path,
                        help="file with one code per line, UTF-8, # comments allowed (default: none)")
    export.add_argument("--host", default="127.0.0.1",
                        help="whose records: the source last confirmed at this OpenD address (default: 127.0.0.1)")
    export.add_argument("--port", type=int, default=11111, help="OpenD's port (default: 11111)")
    export.add_argument("--cache", type=Path, help="cache file (default: the per-user cache)")
    export.add_argument("--start", metavar="YYYY-MM-DD", help="first session of the panel (--what panel: required)")
    export.add_argument("--end", metavar="YYYY-MM-DD", help="last session of the panel (--what panel: required)")
    cache = commands.add_parser("cache", help="what the cache holds, or forget some of it",
                                description="Look into the cache, or forget part of it.")
    actions = cache.add_subparsers(dest="action", required=True)
    info = actions.add_parser("info", help="path, size, and per source: codes, records, last refresh")
    clear = actions.add_parser("clear", help="forget the records of some codes, or of a source, or all")
    clear.add_argument("codes", nargs="*", metavar="CODE", help="codes to forget (default: every code)")
    clear.add_argument("--source", help="only this source, as `cache info` names it (default: every source)")
    for action in (info, clear):
        action.add_argument("--cache", type=Path, help="cache file (default: the per-user cache)")
    return parser


def _add_what_and_where(command: argparse.ArgumentParser) -> None:
    """The options ``fetch`` and ``refresh`` share: which codes, which OpenD, how to ask it."""
    command.add_argument("codes", nargs="*", metavar="CODE", help="e.g. HK.00700 SH.600519")
    command.add_argument("--codes-file", type=Path,
                         help="file with one code per line, UTF-8, # comments allowed (default: none)")
    command.add_argument("--market", action="append", metavar="MARKET",
                         help="instead of codes: every stock and ETF OpenD lists in HK, SH, SZ or A (SH and SZ); "
                              "repeat it or give a comma list for several, e.g. --market HK,A (default: none)")
    command.add_argument("--host", default="127.0.0.1", help="OpenD's address (default: 127.0.0.1)")
    command.add_argument("--port", type=int, default=11111, help="OpenD's port (default: 11111)")
    command.add_argument("--sdk", choices=("futu", "moomoo"), help="SDK to connect with (default: the installed one)")
    command.add_argument("--num", type=int, default=50, help=f"rows per request, {NUM_MIN}..{NUM_MAX} (default: 50)")
    command.add_argument("--rate", default=VENDOR_RATE,
                         help=f"requests/seconds allowed; 15/30 for each of two processes on one account "
                              f"(default: {VENDOR_RATE}, the vendor's limit)")
    command.add_argument("--connect-timeout", default=str(DEFAULT_CONNECT_TIMEOUT), metavar="SECONDS",
                         help=f"give up on OpenD if the first connection takes longer "
                              f"(default: {DEFAULT_CONNECT_TIMEOUT:g})")
    command.add_argument("-v", "--verbose", action="store_true",
                         help="show the SDK's console lines (on stdout) and our own log on stderr (default: off)")


def _read_codes(args: argparse.Namespace) -> List[str]:
    codes = list(args.codes)
    if args.codes_file is not None:
        try:
            text = args.codes_file.read_text(encoding="utf-8-sig")  # Excel and Notepad write a BOM
        except UnicodeDecodeError as exc:
            raise BuybacksError(f"--codes-file {args.codes_file} is not UTF-8 ({exc.reason} at byte "
                                f"{exc.start}); save it as UTF-8") from None
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                codes.append(line)
    return codes


def _prepare_out_dir(path: Path, name: str = "--out-dir") -> None:
    """Create ``--out-dir`` before fetching, so that an unusable one costs no request."""
    if path.exists() and not path.is_dir():
        raise BuybacksError(f"{name} {path} is not a directory (a file of that name exists)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuybacksError(f"{name} {path} cannot be created: {exc.strerror or exc}") from None


def _write(frame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        from ._exports import write_jsonl  # floats that round-trip; the reason is in its docstring
        write_jsonl(frame, path)
    else:
        frame.to_parquet(path, index=False)


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        print("futu-buybacks: --format parquet needs pyarrow: pip install 'futu-buybacks[parquet]'", file=sys.stderr)
        return False
    return True


def _connect_timeout(text: str) -> Optional[float]:
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds if 0 < seconds < float("inf") else None


def summary(ok: int, failed: int, hk: int, a: int, out_dir: Any, requests: int) -> str:
    """The closing line: ``2 codes ok, 0 failed; 85 HK and 30 A-share records in out (3 requests)``."""
    records = "record" if hk + a == 1 else "records"
    return (f"{plural(ok, 'code')} ok, {failed} failed; {hk} HK and {a} A-share {records} in {out_dir} "
            f"({plural(requests, 'request')})")


def main(argv: Optional[List[str]] = None) -> int:
    """The command; Ctrl-C at any point exits 130 with a message, never a traceback."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130


def _main(argv: Optional[List[str]]) -> int:
    args = _parser().parse_args(argv)
    if args.command == "cache":
        return _cache_command(args)
    if args.command == "export":
        return _export_command(args)
    if args.command == "refresh":
        return _refresh_command(args)
    err = sys.stderr
    if args.format == "parquet" and not _has_pyarrow():
        return 2
    from ._loader import load_buybacks
    checked = _codes_and_connection(args)
    if checked is None:
        return 2
    codes, market, connect_timeout = checked
    try:
        _prepare_out_dir(args.out_dir)
    except BuybacksError as exc:
        print(f"futu-buybacks: {exc}", file=err)
        return 2
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=err)
    cache = False if args.no_cache else (args.cache if args.cache is not None else True)
    tables, failed = _connected(lambda: load_buybacks(
        None if market is not None else codes, market=market, host=args.host, port=args.port, sdk=args.sdk,
        num=args.num, rate=args.rate, cache=cache, full=args.full, verbose=args.verbose,
        connect_timeout=connect_timeout, offline=args.offline, opend=args.opend))
    if failed:
        return failed
    for key in ("hk_buy_back_list", "a_buy_back_list"):
        path = args.out_dir / f"{key}.{args.format}"
        try:
            _write(getattr(tables, key), path, args.format)
        except OSError as exc:
            print(f"futu-buybacks: cannot write {path}: {exc.strerror or exc}; the records are cached, "
                  "run again to write them", file=err)
            return 2
    ok = len(tables.codes) - sum(1 for code in tables.errors if code in tables.codes)
    print("futu-buybacks: " + summary(ok, len(tables.errors), len(tables.hk_buy_back_list),
                                      len(tables.a_buy_back_list), args.out_dir, tables.requests), file=err)
    for code, message in tables.errors.items():
        print(f"  FAILED {code}: {message}", file=err)
    return 0 if tables.ok else 1


def _codes_and_connection(args: argparse.Namespace) -> Optional[Tuple[List[str], Optional[str], float]]:
    """``fetch``'s and ``refresh``'s codes (or market) and connect timeout, checked before
    anything is opened; None after printing what is wrong (exit 2)."""
    err = sys.stderr
    from ._connect import resolve_sdk
    try:
        codes = _read_codes(args)
        parse_rate(args.rate)
        resolve_sdk(args.sdk)
        market = ",".join(args.market) if args.market else None
        if market is not None:
            parse_markets(market)
    except (OSError, BuybacksError) as exc:
        print(f"futu-buybacks: {exc}", file=err)
        return None
    if market is not None and (args.codes or args.codes_file is not None):
        print("futu-buybacks: --market lists the codes itself: give it without CODE... and --codes-file", file=err)
        return None
    if not codes and market is None:
        print("futu-buybacks: no codes given (CODE..., --codes-file or --market)", file=err)
        return None
    try:
        check_num(args.num)  # the compatibility method's rule, as load_buybacks applies it
    except InvalidArgument as exc:
        print(f"futu-buybacks: --num: {exc}", file=err)
        return None
    connect_timeout = _connect_timeout(args.connect_timeout)
    if connect_timeout is None:
        print(f"futu-buybacks: --connect-timeout must be a positive number of seconds, got {args.connect_timeout!r}",
              file=err)
        return None
    return codes, market, connect_timeout


def _connected(work: Any) -> Any:
    """``(work(), None)``, or ``(None, exit code)`` with the message on stderr: 2 for an argument
    refused before connecting, 3 for an OpenD that cannot be reached (or another failure of ours)."""
    try:
        return work(), None
    except InvalidArgument as exc:
        print(f"futu-buybacks: {exc}", file=sys.stderr)
        return None, 2
    except BuybacksError as exc:
        print(f"futu-buybacks: {exc}", file=sys.stderr)
        return None, 3


def _refresh_command(args: argparse.Namespace) -> int:
    """``refresh``: the report on stdout; 2 for bad arguments (a budget it cannot read among
    them), 3 when OpenD cannot be reached, 1 when some codes failed."""
    err = sys.stderr
    from ._refresh import refresh
    from ._schedule import parse_budget
    checked = _codes_and_connection(args)
    if checked is None:
        return 2
    codes, market, connect_timeout = checked
    try:
        parse_budget(args.budget)
    except InvalidArgument as exc:
        print(f"futu-buybacks: --budget: {exc}", file=err)
        return 2
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=err)
    report, failed = _connected(lambda: refresh(
        None if market is not None else codes, market=market, budget=args.budget, host=args.host, port=args.port,
        sdk=args.sdk, num=args.num, rate=args.rate, cache=args.cache if args.cache is not None else True,
        verbose=args.verbose, connect_timeout=connect_timeout))
    if failed:
        return failed
    print(report)
    return 0 if report.ok else 1


def _export_command(args: argparse.Namespace) -> int:
    """``export``: the cache's records (no connection), or what ``events``/``daily_panel`` make of
    them, written by ``_exports``.  2 for bad input or an unwritable DIR, 3 when the cache has
    nothing from that OpenD (as ``fetch --offline``), 1 when some codes were malformed."""
    err = sys.stderr
    if args.format == "parquet" and not _has_pyarrow():
        return 2
    try:
        codes = _read_codes(args)
        span = _panel_span(args)
        steps = [_research_step(name, args.what) for name in EXPORTS[args.what]]
        _prepare_out_dir(args.dir, "DIR")
    except (OSError, BuybacksError) as exc:
        print(f"futu-buybacks: {exc}", file=err)
        return 2
    try:
        tables = _cached_tables(codes, args)
    except BuybacksError as exc:
        print(f"futu-buybacks: {exc}", file=err)
        return 3
    from . import _exports
    try:
        if args.what == "records":
            paths = _exports.export_records(tables, args.dir, format=args.format)
            hk, a = len(tables.hk_buy_back_list), len(tables.a_buy_back_list)
            what = f"{hk} HK and {a} A-share {'record' if hk + a == 1 else 'records'}"
            frames = [tables.hk_buy_back_list, tables.a_buy_back_list]
        else:
            events = steps[0](tables)
            if args.what == "events":
                paths, frames, what = [_exports.export_events(events, args.dir, format=args.format)], [events], \
                    plural(len(events), "event")
            else:
                panel = steps[1](events, *span)
                paths = [_exports.export_panel(panel, args.dir, format=args.format)]
                frames, what = [panel.reset_index()], plural(len(panel), "panel row")
    except BuybacksError as exc:
        print(f"futu-buybacks: {exc}", file=err)
        return 2
    except OSError as exc:
        print(f"futu-buybacks: cannot write into {args.dir}: {exc.strerror or exc}", file=err)
        return 2
    exported = {code for frame in frames for code in frame["code"].dropna()}
    print(f"futu-buybacks: exported {what} of {plural(len(exported), 'code')} ({tables.source or 'no source'}) "
          f"to {', '.join(map(str, paths))}", file=err)
    for code, message in tables.errors.items():
        print(f"  FAILED {code}: {message}", file=err)
    return 0 if tables.ok else 1


def _panel_span(args: argparse.Namespace) -> tuple:
    """``(start, end)`` of ``--what panel`` as timestamps; () for the other exports."""
    given = [(option, value) for option, value in (("--start", args.start), ("--end", args.end)) if value is not None]
    if args.what != "panel":
        if given:
            raise BuybacksError(f"{given[0][0]} is for --what panel only")
        return ()
    if len(given) < 2:
        raise BuybacksError("--what panel needs --start and --end (the first and last session, YYYY-MM-DD)")
    import pandas as pd
    span = []
    for option, value in given:
        try:
            span.append(pd.Timestamp(value))
        except ValueError:
            raise BuybacksError(f"{option} must be a date YYYY-MM-DD, got {value!r}") from None
    if span[0] > span[1]:
        raise BuybacksError(f"--start {args.start} is after --end {args.end}")
    return tuple(span)


def _research_step(name: str, what: str) -> Any:
    """``futu_buybacks.<name>``, imported on first use; a clear refusal if this version lacks it."""
    import futu_buybacks
    try:
        return getattr(futu_buybacks, name)
    except (AttributeError, ImportError) as exc:
        raise BuybacksError(f"--what {what} needs futu_buybacks.{name}(), which this installation does not have "
                            f"({exc})") from None


def _cached_tables(codes: List[str], args: argparse.Namespace) -> Any:
    """The cached records of ``codes`` (every cached code if none) of the source last confirmed at
    ``--host:--port``, as ``fetch --offline`` reads them: read-only, no connection."""
    from ._loader import load_buybacks
    cache = args.cache if args.cache is not None else True
    if not codes:
        codes = _every_cached_code(args)
    return load_buybacks(codes, offline=True, host=args.host, port=args.port, cache=cache, progress=False)


def _every_cached_code(args: argparse.Namespace) -> List[str]:
    from ._cache import Cache, CacheUnusable, default_cache_path
    from ._schema import FRAMES
    from ._sources import address_key
    path = args.cache if args.cache is not None else default_cache_path()
    address = address_key(args.host, args.port)
    with Cache(path, read_only=True) as cache:
        source = cache.source_at(address)
        if source is None:
            raise CacheUnusable(f"the cache {path} has nothing from OpenD at {address}: "
                                "load once with a connection first")
        return sorted({row[0] for schema in FRAMES for row in cache.rows(schema, source)})


def _cache_command(args: argparse.Namespace) -> int:
    """``cache info`` and ``cache clear``; 2 for bad input (a malformed code, an unknown source)."""
    from ._cache import Cache, default_cache_path
    from ._codes import parse_code
    path = args.cache if args.cache is not None else default_cache_path()
    if not path.is_file():
        print(f"futu-buybacks: no cache at {path} (nothing cached yet)", file=sys.stderr)
        return 0 if args.action == "info" else 2
    try:
        if args.action == "info":
            with Cache(path, read_only=True) as cache:
                print(cache_report(path, cache.summary()))
            return 0
        codes = [str(parse_code(code)) for code in args.codes]
        with Cache(path) as cache:
            known = [summary.source for summary in cache.summary()]
            if args.source is not None and args.source not in known:
                print(f"futu-buybacks: the cache has no source {args.source!r} "
                      f"(it has: {', '.join(known) or 'none'})", file=sys.stderr)
                return 2
            removed = cache.clear(args.source, codes)
    except BuybacksError as exc:
        print(f"futu-buybacks: {exc}", file=sys.stderr)
        return 2
    what = f"{plural(len(codes), 'code')}" if codes else "every code"
    print(f"futu-buybacks: forgot {plural(removed, 'record')} ({what}, "
          f"{'source ' + args.source if args.source else 'every source'}) in {path}", file=sys.stderr)
    return 0


def cache_report(path: Path, sources: List[Any]) -> str:
    """``cache info``'s text: the file, then one line per source."""
    import datetime as dt
    size = sum(Path(f"{path}{side}").stat().st_size for side in ("", "-wal") if Path(f"{path}{side}").exists())
    lines = [f"cache: {path} ({size / 2**20:.1f} MiB)"]
    if not sources:
        return "\n".join(lines + ["no records"])
    header = ("source", "codes", "HK records", "A-share records", "last refresh", "confirmed at")
    table = [header]
    for s in sources:
        last = (dt.datetime.fromtimestamp(s.last_checked).astimezone().strftime("%Y-%m-%d %H:%M %Z")
                if s.last_checked is not None else "-")
        table.append((s.source, str(s.codes), str(s.hk_records), str(s.a_records), last,
                      ", ".join(s.addresses) or "-"))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        cells = [cell.rjust(w) if 0 < i < 4 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
