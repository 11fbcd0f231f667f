"""Ctrl-C while the loader runs raises ``KeyboardInterrupt``, instead of ending the process.

``import futu`` (and ``import moomoo``) installs a SIGINT handler that calls ``os._exit(0)``:
checked in futu-api 9.6.5608, 10.5.6508, 10.11.7108 and moomoo-api 9.6.5608, 10.11.7108, at
import time, when imported from the main thread (``<sdk>/__init__.py``, ``quit_handler``).
Ctrl-C then ends the process at once with status 0: no message, no ``finally``, and in Jupyter
the kernel dies.  While the loader runs, Python's own handler raises ``KeyboardInterrupt`` in
the loading thread instead, so the command can exit 130 with its message and a notebook cell
simply stops.  Every page is its own cache transaction, so an interruption loses nothing stored.

Closing is the exception: a context left half-open by a ``KeyboardInterrupt`` raised inside
``close()`` (or while it connects) keeps the SDK's callback thread, which is not a daemon,
alive, and the process never exits ("interrupted", then a hang).  So a Ctrl-C that arrives while
a connection closes waits until the closing is done (:func:`ctrl_c_held`, :class:`ClosingStack`);
so does one during the SDK's import, which would otherwise meet the SDK's handler.
"""

import contextlib
import signal
import threading
from types import TracebackType
from typing import Any, Iterator, List, Optional, Type


class CtrlCRaises:
    """``with CtrlCRaises() as ctrl_c:``: SIGINT raises ``KeyboardInterrupt`` inside the block.

    On leaving, the handler from before the block is put back exactly, whatever was set meanwhile
    (the SDK's import, when the loader opens its own context, installs its own: :meth:`reclaim`
    takes over again right after).  Only the main thread may set signal handlers, and SIGINT is
    delivered to the main thread only, so in any other thread this does nothing: the handler in
    place decides, and a ``load_buybacks`` run from a worker thread is stopped by whatever stops
    the main thread.
    """

    def __init__(self) -> None:
        self._active = False
        self._before: Any = None

    def __enter__(self) -> "CtrlCRaises":
        if threading.current_thread() is threading.main_thread():
            self._before = signal.getsignal(signal.SIGINT)
            self._active = True
            self.reclaim()
        return self

    def reclaim(self) -> None:
        """Make SIGINT raise again if something replaced the handler since the block began (from
        the main thread; a worker thread of a load through several OpenDs leaves it alone)."""
        if (self._active and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, kind: Optional[Type[BaseException]], value: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        if self._active and self._before is not None:  # None: a handler not set from Python, not restorable
            signal.signal(signal.SIGINT, self._before)
        self._active = False


@contextlib.contextmanager
def ctrl_c_held() -> Iterator[None]:
    """Inside the block SIGINT is only noted; after it, the signal is raised again, so the handler
    in place acts on it then (``KeyboardInterrupt`` under :class:`CtrlCRaises`).

    Only for work that must not stop half-way and ends soon: closing a connection, making a
    context, importing the SDK (whose own handler, set by the import, is replaced on leaving by
    the one from before).  Outside the main thread, or where the handler was not set from
    Python, it does nothing.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield
        return
    caught: List[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            signal.raise_signal(signal.SIGINT)


class ClosingStack(contextlib.ExitStack):
    """An ``ExitStack`` whose closing callbacks all run with Ctrl-C held (:func:`ctrl_c_held`)."""

    def __exit__(self, *exc_info: Any) -> bool:
        with ctrl_c_held():
            return super().__exit__(*exc_info)
