"""``python -m futu_buybacks.simulator``: serve a dataset on OpenD's protocol until Ctrl-C."""

import argparse
import logging
import sys
import time
from typing import List, Optional, Tuple

from .._errors import InvalidArgument
from .._ratelimit import parse_rate
from ._dataset import SAMPLE, Dataset
from ._server import Simulator


def _rate(text: str) -> Tuple[int, float]:
    try:
        return parse_rate(text)
    except InvalidArgument as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m futu_buybacks.simulator",
                                     description="Offline OpenD serving share-buyback records (protocol 3235) "
                                                 "and the HK and mainland trading days (3219).")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=11111, help="TCP port, 0 = any free port (default: 11111)")
    parser.add_argument("--data", default=str(SAMPLE), metavar="FILE",
                        help="JSON Lines dataset (default: the bundled sample)")
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
    try:
        dataset = Dataset.load(args.data)
    except (OSError, ValueError) as exc:
        parser.error(f"cannot load --data: {exc}")
    rsa_key = None
    if args.rsa_key:
        try:
            with open(args.rsa_key, encoding="ascii") as handle:
                rsa_key = handle.read()
        except (OSError, ValueError) as exc:
            parser.error(f"cannot read --rsa-key: {exc}")
    try:
        simulator = Simulator(dataset, args.host, args.port, rate_limit=args.rate, rsa_key=rsa_key,
                              packet_algo=args.packet_algo)
    except ValueError as exc:
        parser.error(f"--rsa-key: {exc}")
    try:
        simulator.start()
    except OSError as exc:
        parser.error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc} "
                     "(another simulator or OpenD? choose another --port, or 0 for any free one)")
    with simulator as sim:
        codes = len(dataset.records)
        print(f"futu-buybacks simulator listening on {sim.host}:{sim.port} "
              f"({codes} codes from {args.data}); Ctrl-C to stop", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
