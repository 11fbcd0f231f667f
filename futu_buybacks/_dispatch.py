"""Codes shared among several OpenDs: one queue, one worker thread per OpenD, each under its own
rate limit.

A user with several accounts runs one OpenD per account, each with its own 30-per-30-s budget;
``load_buybacks(codes, opend=[...])`` spends them all.  Who takes which code:

- a code already cached under one OpenD's source (its account) goes to an OpenD of that source,
  so a refresh costs what it costs there instead of a full fetch elsewhere;
- every other code goes to whichever OpenD is free first;
- an OpenD that fails (``TransportError``: unreachable, or lost for longer than the loader's
  patience) stops taking codes; the code in hand and the codes waiting for its source go to the
  others.  When every OpenD has failed, the load raises the last failure.

One OpenD runs in the calling thread (nothing changes for the ordinary load, Ctrl-C included);
several run in worker threads while the calling thread waits, so Ctrl-C still reaches it and
stops every worker before its next page.
"""

import collections
import logging
import threading
from typing import Callable, Deque, Dict, List, Optional, Sequence

from ._errors import TransportError

log = logging.getLogger("futu_buybacks")
#: How often the waiting thread wakes up, so that Ctrl-C is delivered to it.
_JOIN_POLL = 0.1


class CodeQueue:
    """The codes still to load, per source they are preferred for (None: anyone).

    A worker asking for a code while the queue is empty waits as long as another worker holds
    one, since a failing OpenD gives its code in hand back: no code is left behind.
    """

    def __init__(self, codes: Sequence[str], preferred: Dict[str, str]):
        self._queues: Dict[Optional[str], Deque[str]] = collections.defaultdict(collections.deque)
        for code in codes:
            self._queues[preferred.get(code)].append(code)
        self._changed = threading.Condition()
        self._live_sources: Dict[str, int] = collections.Counter()
        self._in_hand = 0
        self.stopping = False

    def join(self, source: str) -> None:
        with self._changed:
            self._live_sources[source] += 1

    def leave(self, source: str, code_in_hand: Optional[str] = None) -> None:
        """A worker of ``source`` stops for good; its code in hand goes back, for anyone."""
        with self._changed:
            self._live_sources[source] -= 1
            if code_in_hand is not None:
                self._in_hand -= 1
                self._queues[None].appendleft(code_in_hand)
            self._changed.notify_all()

    def done(self) -> None:
        """The code a worker took is loaded (or failed for itself, not for its OpenD)."""
        with self._changed:
            self._in_hand -= 1
            self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self.stopping = True
            self._changed.notify_all()

    def next(self, source: str) -> Optional[str]:
        """The next code for a worker of ``source``: its own first, then anyone's, then the codes
        preferred for a source that no worker serves any more; None when there are none left."""
        with self._changed:
            while not self.stopping:
                code = self._take(source)
                if code is not None:
                    self._in_hand += 1
                    return code
                if self._in_hand == 0:
                    return None
                self._changed.wait()
            return None

    def _take(self, source: str) -> Optional[str]:
        for key in (source, None):
            if self._queues[key]:
                return self._queues[key].popleft()
        for key, queue in self._queues.items():
            if queue and key is not None and self._live_sources[key] <= 0:
                return queue.popleft()
        return None


class Stopped(Exception):
    """Raised by a worker's ``load`` between pages once the queue is stopping (Ctrl-C)."""


class Worker:
    """Loads codes from the queue through one OpenD: ``load(code)`` returns an error or None."""

    def __init__(self, name: str, source: str, load: Callable[[str], Optional[str]]):
        self.name, self.source, self.load = name, source, load
        self.errors: Dict[str, str] = {}
        self.loaded: List[str] = []   # codes this worker brought up to date (or tried to)
        self.failure: Optional[TransportError] = None   # its OpenD failed: the others took over
        self.crash: Optional[BaseException] = None      # anything else, raised again by run()

    def run(self, queue: CodeQueue, alone: bool = False) -> None:
        """Take codes until there are none; ``alone``: a failure of the OpenD propagates (there is
        no other to move its codes to)."""
        queue.join(self.source)
        code = None
        try:
            while True:
                code = queue.next(self.source)
                if code is None:
                    break
                error = self.load(code)
                self.loaded.append(code)
                if error:
                    self.errors[code] = error
                code = None
                queue.done()
        except Stopped:
            pass
        except TransportError as exc:
            if alone:
                raise
            self.failure = exc
            log.warning("futu_buybacks: %s failed (%s); its codes move to the other OpenDs", self.name, exc)
        except BaseException as exc:  # anything else is a bug or Ctrl-C: the caller re-raises it
            if alone:
                raise
            self.crash = exc
            queue.stop()
        finally:
            queue.leave(self.source, code)


def run(workers: Sequence[Worker], queue: CodeQueue) -> None:
    """Run every worker until the queue is empty; raise the last failure if every worker failed.

    One worker runs here; several run in threads while this thread waits for them.
    """
    if len(workers) == 1:
        workers[0].run(queue, alone=True)
        return
    threads = [threading.Thread(target=w.run, args=(queue,), name=f"futu-buybacks {w.name}", daemon=True)
               for w in workers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(_JOIN_POLL)
    except BaseException:  # Ctrl-C (even between two starts): let each worker finish its page, then stop
        queue.stop()
        for thread in threads:
            if thread.ident is not None:  # started
                thread.join()
        raise
    for worker in workers:
        if worker.crash is not None:
            raise worker.crash
    failures = [w.failure for w in workers if w.failure is not None]
    if len(failures) == len(workers):
        raise failures[-1]
