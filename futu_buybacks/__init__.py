"""futu-buybacks: share-buyback records (OpenD protocol 3235) into pandas, on every futu-api /
moomoo-api version.

    import futu_buybacks; futu_buybacks.install()
    from futu import *
    quote_ctx = OpenQuoteContext(host="127.0.0.1", port=11111)
    ret, data = quote_ctx.get_corporate_actions_buybacks("HK.00700", num=3)
"""

from ._cache import Cache, default_cache_path
from ._errors import BuybacksError, HostUnsupported, InvalidArgument, ServerError, TransportError
from ._loader import BuybackTables, load_buybacks
from ._protocol import RET_ERROR, RET_OK
from ._ratelimit import RateLimiter
from ._shim import BuybacksMixin, InstallReport, get_corporate_actions_buybacks, install, uninstall
from ._tidy import with_timestamps

__version__ = "0.1.0"

__all__ = [
    "BuybacksError",
    "BuybackTables",
    "BuybacksMixin",
    "Cache",
    "HostUnsupported",
    "InstallReport",
    "InvalidArgument",
    "RateLimiter",
    "RET_ERROR",
    "RET_OK",
    "ServerError",
    "TransportError",
    "default_cache_path",
    "get_corporate_actions_buybacks",
    "install",
    "load_buybacks",
    "uninstall",
    "with_timestamps",
]
