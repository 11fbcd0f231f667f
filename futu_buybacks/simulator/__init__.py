"""An offline OpenD speaking the real wire protocol, for tests, demos and notebooks.

    from futu_buybacks.simulator import Simulator
    with Simulator() as sim:
        quote_ctx = OpenQuoteContext(host=sim.host, port=sim.port)

``SyntheticMarket`` / ``synthetic_market(...)``: years of plausible records for a universe of
codes, to research on (docs/simulator.md, "The synthetic market").

Command line: ``python -m futu_buybacks.simulator [--host 127.0.0.1] [--port 11111] [--data FILE | --market]``.
"""

from ._dataset import Dataset, synthetic_dataset, synthetic_records
from ._market import (
    Amendment,
    Change,
    MarketModel,
    Plan,
    Programme,
    SyntheticMarket,
    synthetic_codes,
    synthetic_market,
    weekday_sessions,
)
from ._server import FAULTS, FREQUENCY_MESSAGE, Simulator
from ._universe import Listing, synthetic_universe

__all__ = ["FAULTS", "FREQUENCY_MESSAGE", "Amendment", "Change", "Dataset", "Listing", "MarketModel", "Plan",
           "Programme", "Simulator", "SyntheticMarket", "synthetic_codes", "synthetic_dataset", "synthetic_market",
           "synthetic_records", "synthetic_universe", "weekday_sessions"]
