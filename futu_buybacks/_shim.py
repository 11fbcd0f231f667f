"""The compatibility method, as a mixin and as a patch installed on the SDK's OpenQuoteContext.

This is the SDK boundary: below it layers raise ``BuybacksError``; here every failure becomes
the SDK's ``(RET_ERROR, message)``.
"""

import importlib.abc
import importlib.util
import logging
import sys
import threading
from typing import Any, Dict, Optional, Tuple

from . import _host
from ._codes import END_KEY, make_query
from ._errors import BuybacksError
from ._protocol import RET_ERROR, RET_OK, end_of_pages

log = logging.getLogger("futu_buybacks")

METHOD = "get_corporate_actions_buybacks"
_MARK = "__futu_buybacks__"


def get_corporate_actions_buybacks(self: Any, code: Any, next_key: Any = None, num: Any = None) -> Tuple[int, Any]:
    """获取回购 — a company's share-buyback records, Hong Kong or A-share, one page at a time.

    Same signature and result as futu-api / moomoo-api 10.6+:

    - ``code``: ``"HK.00700"``, ``"SH.600519"``, ``"SZ.000001"`` (markets HK, SH, SZ);
    - ``next_key``: ``None`` (or ``""``) for the first page, then the previous reply's ``next_key``
      (a str, or its UTF-8 bytes); ``"-1"`` means no more pages (answered at once, nothing is sent);
    - ``num``: rows per page, anything ``int()`` turns into 1..50, sent as ``int(num)`` like the SDK
      (server default 10).

    Returns ``(RET_OK, {"next_key": str, "hk_buy_back_list": DataFrame, "a_buy_back_list":
    DataFrame})`` or ``(RET_ERROR, message)``.  It never raises for bad input, server errors or
    a broken connection.  Rate limit (vendor): 30 requests per 30 seconds.
    """
    try:
        query = make_query(code, next_key, num)
        if query.next_key == END_KEY:
            return RET_OK, end_of_pages()
        return _host.request(self, query)
    except BuybacksError as exc:
        return RET_ERROR, str(exc)


setattr(get_corporate_actions_buybacks, _MARK, True)


class BuybacksMixin:
    """``get_corporate_actions_buybacks`` for ``class Ctx(BuybacksMixin, OpenQuoteContext)``.

    First in the MRO, it is used even where the SDK has a native method.
    """

    get_corporate_actions_buybacks = get_corporate_actions_buybacks


class InstallReport(Dict[str, str]):
    """What :func:`install` did, per SDK package: one of

    ``"patched"`` (shim installed), ``"native"`` (the SDK has the method; kept),
    ``"forced"`` (native replaced by the shim), ``"deferred"`` (patched when the SDK is
    imported), ``"absent"`` (not installed).
    """

    def __str__(self) -> str:
        return ", ".join(f"{sdk}: {status}" for sdk, status in self.items())


_lock = threading.RLock()
_natives: Dict[str, Any] = {}      # package -> native function replaced by force=True
_wanted: Dict[str, bool] = {}      # package -> force flag, for SDKs patched on import


def _patch(package: str, force: bool) -> str:
    module = sys.modules[package]
    ctx_class = module.OpenQuoteContext
    current = ctx_class.__dict__.get(METHOD)
    _host.prepare(package)
    if current is not None and getattr(current, _MARK, False):
        return "forced" if package in _natives else "patched"
    if current is not None and not force:
        return "native"
    if current is not None:
        _natives[package] = current
    setattr(ctx_class, METHOD, get_corporate_actions_buybacks)
    return "forced" if current is not None else "patched"


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches futu / moomoo right after their top-level import, for ``install()`` run first."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Optional[Any]:
        if fullname not in _wanted:
            return None
        sys.meta_path.remove(self)          # let the normal finders locate the real module
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_patch(module: Any) -> None:
            exec_module(module)
            with _lock:
                force = _wanted.pop(fullname, None)
                if force is not None:
                    log.info("futu_buybacks: %s imported, %s", fullname, _patch(fullname, force))
        spec.loader.exec_module = exec_then_patch  # type: ignore[method-assign]
        return spec


_finder = _PatchOnImport()


def install(force: bool = False) -> InstallReport:
    """Add ``get_corporate_actions_buybacks`` to futu's and moomoo's ``OpenQuoteContext``.

    Works before or after ``import futu`` (an SDK not yet imported is patched when it is), is
    idempotent, and keeps an SDK's native method unless ``force=True``.  Returns an
    :class:`InstallReport` and logs it at INFO level on the ``futu_buybacks`` logger.
    """
    report = InstallReport()
    with _lock:
        for package in _host.SDK_PACKAGES:
            if package in sys.modules and hasattr(sys.modules[package], "OpenQuoteContext"):
                report[package] = _patch(package, force)
            elif importlib.util.find_spec(package) is not None:
                _wanted[package] = force
                if _finder not in sys.meta_path:
                    sys.meta_path.insert(0, _finder)
                report[package] = "deferred"
            else:
                report[package] = "absent"
    log.info("futu_buybacks.install(): %s", report)
    return report


def uninstall() -> None:
    """Undo :func:`install`: restore native methods, remove the shim and the import hook."""
    with _lock:
        _wanted.clear()
        if _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
        for package in _host.SDK_PACKAGES:
            module = sys.modules.get(package)
            ctx_class = getattr(module, "OpenQuoteContext", None)
            if ctx_class is None:
                continue
            current = ctx_class.__dict__.get(METHOD)
            if current is not None and getattr(current, _MARK, False):
                native = _natives.pop(package, None)
                if native is not None:
                    setattr(ctx_class, METHOD, native)
                else:
                    delattr(ctx_class, METHOD)
