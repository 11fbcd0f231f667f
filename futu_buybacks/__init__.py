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

# The loader's names are imported on first use (PEP 562), so `import futu_buybacks` next to an
# SDK costs only the compatibility method.
_LAZY = {
    "BuybackTables": "._loader", "load_buybacks": "._loader", "Cache": "._cache",
    "default_cache_path": "._cache", "RateLimiter": "._ratelimit", "with_timestamps": "._tidy",
    "export_records": "._exports", "export_events": "._exports", "export_panel": "._exports",
    "to_alphalens": "._exports", "to_qlib": "._exports", "qlib_symbol": "._exports",
    "events": "._events", "daily_panel": "._panel", "market_series": "._panel",
    "refresh": "._refresh", "RefreshReport": "._refresh",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'futu_buybacks' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "BuybacksError",
    "BuybacksMixin",
    "BuybackTables",
    "Cache",
    "HostUnsupported",
    "InstallReport",
    "InvalidArgument",
    "RateLimiter",
    "RefreshReport",
    "RET_ERROR",
    "RET_OK",
    "ServerError",
    "TransportError",
    "daily_panel",
    "default_cache_path",
    "events",
    "export_events",
    "export_panel",
    "export_records",
    "get_corporate_actions_buybacks",
    "install",
    "load_buybacks",
    "market_series",
    "qlib_symbol",
    "refresh",
    "to_alphalens",
    "to_qlib",
    "uninstall",
    "with_timestamps",
]
