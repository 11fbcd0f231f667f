"""Shared fixtures: the simulator on 127.0.0.1 port 0, the installed SDKs, frame comparison."""

import importlib
import importlib.util
import logging
import os
from pathlib import Path

import pandas as pd
import pytest

from futu_buybacks.simulator import Simulator


def keep_compiled_bytecode():
    """Let the Python processes the suite starts (xdist workers, command-line runs, notebook
    kernels) keep the bytecode they compile, in the checkout's ``__pycache__`` (ignored by git).

    The environments are installed without .pyc files (uv writes none by default), so with
    PYTHONDONTWRITEBYTECODE set, as on the machine CI runs on, each of those processes compiled
    pandas, the SDK and the rest from source again: about 2 s of the 2.5 s a command-line run
    took.  Nothing is written beside the installed packages or the sources; a PYTHONPYCACHEPREFIX
    already set is kept.
    """
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
        os.environ["PYTHONPYCACHEPREFIX"] = str(Path(__file__).resolve().parents[1] / "__pycache__")
        del os.environ["PYTHONDONTWRITEBYTECODE"]


keep_compiled_bytecode()  # here, before pytest-xdist starts its workers

#: SDK packages importable in this environment ("futu", "moomoo").
SDKS = [name for name in ("futu", "moomoo") if importlib.util.find_spec(name) is not None]


def sdk_version(package: str) -> tuple:
    module = importlib.import_module(package)
    text = getattr(module, "__version__", "0")
    return tuple(int(part) for part in text.split(".")[:2])


def has_native(package: str) -> bool:
    """Whether this SDK ships get_corporate_actions_buybacks itself (10.6 and later)."""
    return sdk_version(package) >= (10, 6)


def assert_same_frame(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Same columns, order, dtypes, values and NaN placement."""
    assert list(left.columns) == list(right.columns)
    assert left.dtypes.to_dict() == right.dtypes.to_dict()
    pd.testing.assert_frame_equal(left, right, check_exact=True)
    assert left.equals(right)
    # whole-frame reads take shortcuts column reads do not (a one-block frame skips its placement)
    pd.testing.assert_frame_equal(pd.DataFrame(left.to_numpy()), pd.DataFrame(right.to_numpy()), check_exact=True)


def assert_same_result(left, right) -> None:
    """Two ``(ret, data)`` results are identical, frames included."""
    assert left[0] == right[0]
    if isinstance(left[1], str) or isinstance(right[1], str):
        assert left[1] == right[1]
        return
    assert set(left[1]) == set(right[1]) == {"next_key", "hk_buy_back_list", "a_buy_back_list"}
    assert left[1]["next_key"] == right[1]["next_key"]
    for key in ("hk_buy_back_list", "a_buy_back_list"):
        assert_same_frame(left[1][key], right[1][key])


def string_configurations():
    """Every setting of the pandas options that change string inference this pandas accepts."""
    found = []
    for infer in (None, False, True):
        for storage in (None, "python", "pyarrow"):
            options = [opt for opt in (("future.infer_string", infer), ("mode.string_storage", storage))
                       if opt[1] is not None]
            try:
                with pd.option_context(*[v for opt in options for v in opt]):
                    probe = pd.DataFrame([("a",), (float("nan"),)])
                    dtype = str(probe.dtypes.iloc[0])
            except Exception:  # an option or value this pandas (or its missing pyarrow) lacks
                continue
            found.append(pytest.param(options, id=f"{options or 'defaults'}->{dtype}"))
    return found


def shorten_timeout(ctx, seconds):
    """The SDK's own request timeout (12 s by default), shortened for the test."""
    if hasattr(ctx, "_query_timeout"):
        ctx._query_timeout = seconds
    else:  # moomoo-api 9.x keeps it on the network manager
        ctx._net_mgr._sync_req_timeout = seconds


@pytest.fixture(autouse=True, scope="session")
def _quiet_sdk_logs():
    for name in ("FTLog", "futu", "moomoo"):
        logging.getLogger(name).setLevel(logging.WARNING)
    yield


@pytest.fixture(scope="session")
def simulator():
    """One simulator for the session (tests that misbehave it use their own)."""
    with Simulator() as sim:
        yield sim


@pytest.fixture(params=SDKS or [pytest.param(None, marks=pytest.mark.skip(reason="no SDK installed"))])
def sdk(request):
    """Each installed SDK's top-level module (futu, moomoo), with the shim installed."""
    import futu_buybacks
    module = importlib.import_module(request.param)
    futu_buybacks.install()
    return module


def all_pages(ctx, code, num):
    """Every page of ``code``, each asserted successful."""
    pages, next_key = [], None
    while next_key != "-1":
        ret, data = ctx.get_corporate_actions_buybacks(code, next_key=next_key, num=num)
        assert ret == 0, data
        pages.append(data)
        next_key = data["next_key"]
    return pages


def shim_context_class(sdk):
    """``OpenQuoteContext`` with the shim first in the MRO, so SDKs with a native method use ours."""
    import futu_buybacks
    return type("ShimQuoteContext", (futu_buybacks.BuybacksMixin, sdk.OpenQuoteContext), {})


@pytest.fixture
def ctx(sdk, simulator):
    """A real OpenQuoteContext (shim first in its MRO) connected to the simulator over TCP."""
    context = shim_context_class(sdk)(host=simulator.host, port=simulator.port)
    yield context
    context.close()
