"""``python -m futu_buybacks.simulator``: serve a dataset on OpenD's protocol until Ctrl-C."""

import argparse
import logging
import sys
import time
from typing import List, Optional, Tuple

from .._errors import InvalidArgument
from .._ratelimit import parse_rate
from ._dataset import SAMPLE, Dataset
from ._market import DEFAULT_UNIVERSE, MarketModel, SyntheticMarket
from ._server import Simulator


def _rate(text: str) -> Tuple[int, float]:
    try:
        return parse_rate(text)
    except InvalidArgument as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: The synthetic market's options and their defaults.
MARKET_DEFAULTS = {"codes": sum(DEFAULT_UNIVERSE), "seed": 0, "start": "2016-01-01", "end": "2025-12-31",
                   "active": MarketModel().active}


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of codes, at least 1, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m futu_buybacks.simulator",
                                     description="Offline OpenD serving share-buyback records (protocol 3235) "
                                                 "and the HK and mainland trading days (3219).")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=11111, help="TCP port, 0 = any free port (default: 11111)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data", default=str(SAMPLE), metavar="FILE",
                        help="JSON Lines dataset (default: the bundled sample)")
    source.add_argument("--market", action="store_true",
                        help="serve the synthetic market (docs/simulator.md, 'The synthetic market') instead of "
                             "a file (default: off, the bundled sample)")
    market = parser.add_argument_group("synthetic market (with --market)")
    # defaults filled in by main(), so that an option given without --market is refused, not ignored
    market.add_argument("--codes", type=_count, metavar="N",
                        help=f"codes, half HK (HK.00001, ...), half A-share (SH.600000, SZ.000001, SZ.300001, ...) "
                             f"(default: {MARKET_DEFAULTS['codes']})")
    market.add_argument("--seed", type=int, help=f"random seed (default: {MARKET_DEFAULTS['seed']})")
    market.add_argument("--start", metavar="DATE", help=f"first day (default: {MARKET_DEFAULTS['start']})")
    market.add_argument("--end", metavar="DATE", help=f"last day (default: {MARKET_DEFAULTS['end']})")
    market.add_argument("--active", type=_share, metavar="SHARE",
                        help=f"share of companies that ever buy back (default: {MARKET_DEFAULTS['active']})")
    market.add_argument("--advance-every", type=_seconds, metavar="SECONDS",
                        help="serve the market as a world that moves on one session every SECONDS, from the "
                             "first session after 60%% of the period (default: the whole period, fixed)")
    parser.add_argument("--rate", type=_rate, default=None, metavar="N/SECONDS",
                        help="refuse requests beyond N per SECONDS, as OpenD does, e.g. 30/30 (default: no limit)")
    parser.add_argument("--rsa-key", metavar="FILE",
                        help="the SDK's RSA private key file (SysConfig.set_init_rsa_file): encrypt links "
                             "of clients that ask for it, as OpenD does (default: no encryption)")
    parser.add_argument("--packet-algo", choices=("auto", "ftaes_ecb"), default="auto",
                        help="AES mode after InitConnect: auto = what the client asks (AES-CBC), or FTAES-ECB "
                             "(default: auto)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"WARNING: binding {args.host}: the simulator is reachable from other machines "
              "(it has no authentication)", file=sys.stderr)
    given = [f"--{name}" for name in MARKET_DEFAULTS if getattr(args, name) is not None]
    given += ["--advance-every"] if args.advance_every is not None else []
    if given and not args.market:
        parser.error(f"{', '.join(given)} choose the synthetic market: add --market")
    for name, default in MARKET_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    world = None
    if args.market:
        try:
            world = SyntheticMarket(args.codes, start=args.start, end=args.end, seed=args.seed, active=args.active)
        except ValueError as exc:  # a date pandas cannot read, end before start
            parser.error(f"--market: {exc}")
        dataset = world.dataset() if args.advance_every is None else None
        origin = f"synthetic market, seed {args.seed}, {world.start.date()} to {world.end.date()}"
    else:
        try:
            dataset = Dataset.load(args.data)
        except (OSError, ValueError) as exc:
            parser.error(f"cannot load --data: {exc}")
        origin = f"from {args.data}"
    rsa_key = None
    if args.rsa_key:
        try:
            with open(args.rsa_key, encoding="ascii") as handle:
                rsa_key = handle.read()
        except (OSError, ValueError) as exc:
            parser.error(f"cannot read --rsa-key: {exc}")
    try:
        simulator = Simulator(dataset, args.host, args.port, rate_limit=args.rate, rsa_key=rsa_key,
                              packet_algo=args.packet_algo, world=world if dataset is None else None)
    except ValueError as exc:
        parser.error(f"--rsa-key: {exc}")
    try:
        simulator.start()
    except OSError as exc:
        parser.error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc} "
                     "(another simulator or OpenD? choose another --port, or 0 for any free one)")
    with simulator as sim:
        records = sim.dataset.records
        if args.market:
            origin += f", {sum(bool(rows) for rows in records.values())} with records"
        if sim.session is not None:
            origin += f", at {sim.session.date()}, one session on every {args.advance_every:g} s"
        print(f"futu-buybacks simulator listening on {sim.host}:{sim.port} "
              f"({len(records)} codes {origin}); Ctrl-C to stop", flush=True)
        try:
            if sim.session is None:
                while True:
                    time.sleep(3600)
            _advance_forever(sim, args.advance_every)
        except KeyboardInterrupt:
            pass
    return 0


def _advance_forever(sim: Simulator, every: float) -> None:
    """One session on every ``every`` seconds to the world's end, then serve its last session."""
    last = sim.world.sessions()[-1]  # type: ignore[union-attr]
    while sim.session < last:
        time.sleep(every)
        changes = sim.advance()
        new = sum(change.kind == "new" for change in changes)
        print(f"session {sim.session.date()}: {new} new, {len(changes) - new} amended records", flush=True)
    print(f"the world ends at {sim.session.date()}; serving it until Ctrl-C", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
