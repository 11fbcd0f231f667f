"""futu-buybacks: share-buyback records (OpenD protocol 3235) into pandas, on every futu-api /
moomoo-api version.

    import futu_buybacks; futu_buybacks.install()
    from futu import *
    quote_ctx = OpenQuoteContext(host="127.0.0.1", port=11111)
    ret, data = quote_ctx.get_corporate_actions_buybacks("HK.00700", num=3)
"""

from ._errors import BuybacksError, HostUnsupported, InvalidArgument, ServerError, TransportError
from ._protocol import RET_ERROR, RET_OK
from ._shim import BuybacksMixin, InstallReport, get_corporate_actions_buybacks, install, uninstall

__version__ = "0.1.0"

__all__ = [
    "BuybacksError",
    "BuybacksMixin",
    "HostUnsupported",
    "InstallReport",
    "InvalidArgument",
    "RET_ERROR",
    "RET_OK",
    "ServerError",
    "TransportError",
    "get_corporate_actions_buybacks",
    "install",
    "uninstall",
]
