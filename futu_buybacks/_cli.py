"""``futu-buybacks`` / ``python -m futu_buybacks``: fetch every buyback record of many codes to files."""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

from ._connect import DEFAULT_CONNECT_TIMEOUT
from ._errors import BuybacksError
from ._ratelimit import VENDOR_RATE, parse_rate

FORMATS = ("csv", "parquet", "jsonl")
INTERRUPTED = "futu-buybacks: interrupted; what was fetched is cached, run again to finish"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="futu-buybacks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch", help="fetch every record of the codes into DIR")
    fetch.add_argument("codes", nargs="*", metavar="CODE", help="e.g. HK.00700 SH.600519")
    fetch.add_argument("--codes-file", type=Path, help="file with one code per line (# comments allowed)")
    fetch.add_argument("--host", default="127.0.0.1")
    fetch.add_argument("--port", type=int, default=11111)
    fetch.add_argument("--sdk", choices=("futu", "moomoo"), help="SDK to connect with (default: the installed one)")
    fetch.add_argument("--num", type=int, default=50, help="rows per request, 1..50 (default 50)")
    fetch.add_argument("--rate", default=VENDOR_RATE, help="requests/seconds allowed (default 30/30)")
    fetch.add_argument("--connect-timeout", default=str(DEFAULT_CONNECT_TIMEOUT), metavar="SECONDS",
                       help=f"give up on OpenD if the first connection takes longer "
                            f"(default {DEFAULT_CONNECT_TIMEOUT:g})")
    where = fetch.add_mutually_exclusive_group()
    where.add_argument("--cache", type=Path, help="cache file (default: the per-user cache)")
    where.add_argument("--no-cache", action="store_true", help="keep nothing between runs")
    fetch.add_argument("--full", action="store_true", help="refetch every page, ignoring what is cached")
    fetch.add_argument("--out-dir", type=Path, required=True)
    fetch.add_argument("--format", choices=FORMATS, default="csv")
    return parser


def _read_codes(args: argparse.Namespace) -> List[str]:
    codes = list(args.codes)
    if args.codes_file is not None:
        for line in args.codes_file.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                codes.append(line)
    return codes


def _write(frame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path, index=False)


def _connect_timeout(text: str) -> Optional[float]:
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds if 0 < seconds < float("inf") else None


def main(argv: Optional[List[str]] = None) -> int:
    """The command; Ctrl-C at any point exits 130 with a message, never a traceback."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130


def _main(argv: Optional[List[str]]) -> int:
    args = _parser().parse_args(argv)
    err = sys.stderr
    if args.format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            print("futu-buybacks: --format parquet needs pyarrow: pip install 'futu-buybacks[parquet]'", file=err)
            return 2
    try:
        codes = _read_codes(args)
        parse_rate(args.rate)
    except (OSError, BuybacksError) as exc:
        print(f"futu-buybacks: {exc}", file=err)
        return 2
    if not codes:
        print("futu-buybacks: no codes given (CODE... or --codes-file)", file=err)
        return 2
    if not 1 <= args.num <= 50:
        print(f"futu-buybacks: --num must be in 1..50, got {args.num}", file=err)
        return 2
    connect_timeout = _connect_timeout(args.connect_timeout)
    if connect_timeout is None:
        print(f"futu-buybacks: --connect-timeout must be a positive number of seconds, got {args.connect_timeout!r}",
              file=err)
        return 2
    from ._loader import load_buybacks
    # The SDKs log to stdout ("FTConsoleLog"); the command keeps stdout clean and reports on stderr.
    logging.getLogger("FTConsoleLog").disabled = True
    cache = False if args.no_cache else (args.cache if args.cache is not None else True)
    try:
        tables = load_buybacks(codes, host=args.host, port=args.port, sdk=args.sdk, num=args.num, rate=args.rate,
                               cache=cache, full=args.full, progress=err.isatty(), connect_timeout=connect_timeout)
    except BuybacksError as exc:
        print(f"futu-buybacks: {exc}", file=err)
        return 3
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for key in ("hk_buy_back_list", "a_buy_back_list"):
        _write(getattr(tables, key), args.out_dir / f"{key}.{args.format}", args.format)
    ok = len(set(codes)) - len(tables.errors)
    print(f"futu-buybacks: {ok} codes ok, {len(tables.errors)} failed; {len(tables.hk_buy_back_list)} HK and "
          f"{len(tables.a_buy_back_list)} A-share records in {args.out_dir} ({tables.requests} requests)", file=err)
    for code, message in tables.errors.items():
        print(f"  FAILED {code}: {message}", file=err)
    return 0 if tables.ok else 1
