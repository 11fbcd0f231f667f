"""``futu-buybacks`` / ``python -m futu_buybacks``: fetch every buyback record of many codes to files."""

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any, List, Optional

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="futu-buybacks", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"futu-buybacks {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch", help="fetch every record of the codes into DIR", description=DESCRIPTION)
    fetch.add_argument("codes", nargs="*", metavar="CODE", help="e.g. HK.00700 SH.600519")
    fetch.add_argument("--codes-file", type=Path,
                       help="file with one code per line, UTF-8, # comments allowed (default: none)")
    fetch.add_argument("--market", action="append", metavar="MARKET",
                       help="instead of codes: every stock and ETF OpenD lists in HK, SH, SZ or A (SH and SZ); "
                            "repeat it or give a comma list for several, e.g. --market HK,A (default: none)")
    fetch.add_argument("--host", default="127.0.0.1", help="OpenD's address (default: 127.0.0.1)")
    fetch.add_argument("--port", type=int, default=11111, help="OpenD's port (default: 11111)")
    fetch.add_argument("--sdk", choices=("futu", "moomoo"), help="SDK to connect with (default: the installed one)")
    fetch.add_argument("--num", type=int, default=50, help=f"rows per request, {NUM_MIN}..{NUM_MAX} (default: 50)")
    fetch.add_argument("--rate", default=VENDOR_RATE,
                       help=f"requests/seconds allowed; 15/30 for each of two processes on one account "
                            f"(default: {VENDOR_RATE}, the vendor's limit)")
    fetch.add_argument("--connect-timeout", default=str(DEFAULT_CONNECT_TIMEOUT), metavar="SECONDS",
                       help=f"give up on OpenD if the first connection takes longer "
                            f"(default: {DEFAULT_CONNECT_TIMEOUT:g})")
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
    fetch.add_argument("-v", "--verbose", action="store_true",
                       help="show the SDK's console lines (on stdout) and our own log on stderr (default: off)")
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


def _prepare_out_dir(path: Path) -> None:
    """Create ``--out-dir`` before fetching, so that an unusable one costs no request."""
    if path.exists() and not path.is_dir():
        raise BuybacksError(f"--out-dir {path} is not a directory (a file of that name exists)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuybacksError(f"--out-dir {path} cannot be created: {exc.strerror or exc}") from None


def _write_jsonl(frame: Any, path: Path) -> None:
    """One JSON object per row, floats as the shortest text that reads back as the same float.

    pandas' ``to_json`` rounds floats to ``double_precision`` decimals (10 by default, 15 at
    most): 1000880717.6 became 1000880717.6000000238 and 1e-300 became 0.0.  ``json.dumps``
    writes ``repr(float)``, which round-trips exactly.  Missing values (``<NA>``, NaN) are null,
    as pandas wrote them; timestamps are ISO 8601 with their UTC offset.
    """
    import pandas as pd

    def cell(value: Any) -> Any:
        if value is pd.NA or value is pd.NaT or (isinstance(value, float) and not math.isfinite(value)):
            return None
        if isinstance(value, pd.Timestamp):  # first_seen: ISO 8601 with its offset
            return value.isoformat()
        return value

    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for row in frame.to_dict("records"):  # Python ints, floats and str
            out.write(json.dumps({column: cell(value) for column, value in row.items()}, ensure_ascii=False) + "\n")


def _write(frame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        _write_jsonl(frame, path)
    else:
        frame.to_parquet(path, index=False)


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
    err = sys.stderr
    if args.format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            print("futu-buybacks: --format parquet needs pyarrow: pip install 'futu-buybacks[parquet]'", file=err)
            return 2
    from ._connect import resolve_sdk
    from ._loader import load_buybacks
    try:
        codes = _read_codes(args)
        parse_rate(args.rate)
        resolve_sdk(args.sdk)
        market = ",".join(args.market) if args.market else None
        if market is not None:
            parse_markets(market)
    except (OSError, BuybacksError) as exc:
        print(f"futu-buybacks: {exc}", file=err)
        return 2
    if market is not None and (args.codes or args.codes_file is not None):
        print("futu-buybacks: --market lists the codes itself: give it without CODE... and --codes-file", file=err)
        return 2
    if not codes and market is None:
        print("futu-buybacks: no codes given (CODE..., --codes-file or --market)", file=err)
        return 2
    try:
        check_num(args.num)  # the compatibility method's rule, as load_buybacks applies it
    except InvalidArgument as exc:
        print(f"futu-buybacks: --num: {exc}", file=err)
        return 2
    connect_timeout = _connect_timeout(args.connect_timeout)
    if connect_timeout is None:
        print(f"futu-buybacks: --connect-timeout must be a positive number of seconds, got {args.connect_timeout!r}",
              file=err)
        return 2
    try:
        _prepare_out_dir(args.out_dir)
    except BuybacksError as exc:
        print(f"futu-buybacks: {exc}", file=err)
        return 2
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=err)
    cache = False if args.no_cache else (args.cache if args.cache is not None else True)
    try:
        tables = load_buybacks(None if market is not None else codes, market=market, host=args.host, port=args.port,
                               sdk=args.sdk, num=args.num, rate=args.rate, cache=cache, full=args.full,
                               verbose=args.verbose, connect_timeout=connect_timeout, offline=args.offline)
    except InvalidArgument as exc:  # an argument load_buybacks refuses before connecting
        print(f"futu-buybacks: {exc}", file=err)
        return 2
    except BuybacksError as exc:
        print(f"futu-buybacks: {exc}", file=err)
        return 3
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
