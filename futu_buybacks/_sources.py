"""Where records come from: the source key that keeps one server's data apart from another's.

The cache holds each record under the source that served it, and a load reads and writes only
the source of the OpenD it is talking to.  The key is learnt over the wire, from what every SDK
version exposes publicly, right after the connection is up:

- ``simulator:NAME``: the futu-buybacks simulator says so in its GetGlobalState reply
  (``program_status_desc`` starts with :data:`SIMULATOR_MARK`, then the dataset's name), so
  its sample data can never be taken for an OpenD's, whatever port either of them uses;
- ``opend:USER``: any other OpenD, keyed by the account it is logged in with (``loginUserID``
  of its InitConnect reply, ``get_login_user_id()``).

Why the account and not the address: the address says nothing about who answers (the simulator
and OpenD both default to 127.0.0.1:11111, and an OpenD moves between ports and hosts), while
what an OpenD serves is what its account may see; one account seen through two OpenDs is one
source, two accounts are two.
"""

from typing import Any

from ._errors import HostUnsupported, TransportError
from ._protocol import RET_OK

#: The source of a context that cannot say what it talks to, loading into a memory-only cache.
UNIDENTIFIED = "unidentified"
#: How the simulator's GetGlobalState reply starts its ``program_status_desc``.
SIMULATOR_MARK = "futu-buybacks simulator"


def simulator_status(name: str) -> str:
    """The ``program_status_desc`` the simulator announces for a dataset called ``name``."""
    return f"{SIMULATOR_MARK}: {name}"


def simulator_source(name: str) -> str:
    """The source key of a simulator serving a dataset called ``name``."""
    return f"simulator:{name}"


def source_of(ctx: Any) -> str:
    """The source key of what ``ctx`` (a connected ``OpenQuoteContext``) is talking to."""
    get_state = getattr(ctx, "get_global_state", None)
    get_user = getattr(ctx, "get_login_user_id", None)
    if get_state is None or get_user is None:
        raise HostUnsupported(f"{type(ctx).__name__} cannot say which OpenD it talks to (no get_global_state/"
                              "get_login_user_id), so its records cannot be cached apart from another "
                              "server's: pass an OpenQuoteContext of futu-api or moomoo-api, or cache=False")
    ret, state = get_state()
    if ret != RET_OK:
        raise TransportError(f"OpenD did not answer GetGlobalState: {state}")
    status = str(state.get("program_status_desc") or "")
    if status.startswith(SIMULATOR_MARK + ":"):
        return simulator_source(status[len(SIMULATOR_MARK) + 1:].strip())
    return f"opend:{get_user()}"


def address_key(host: Any, port: Any) -> str:
    """How an OpenD address is written in the cache's ``sources`` table."""
    return f"{host}:{port}"
