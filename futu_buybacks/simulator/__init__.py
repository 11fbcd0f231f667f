"""An offline OpenD speaking the real wire protocol, for tests, demos and notebooks.

    from futu_buybacks.simulator import Simulator
    with Simulator() as sim:
        quote_ctx = OpenQuoteContext(host=sim.host, port=sim.port)

Command line: ``python -m futu_buybacks.simulator [--host 127.0.0.1] [--port 11111] [--data FILE]``.
"""

from ._dataset import Dataset, synthetic_dataset, synthetic_records
from ._server import FAULTS, FREQUENCY_MESSAGE, Simulator
from ._universe import Listing, synthetic_universe

__all__ = ["FAULTS", "FREQUENCY_MESSAGE", "Dataset", "Listing", "Simulator", "synthetic_dataset", "synthetic_records",
           "synthetic_universe"]
