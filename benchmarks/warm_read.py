"""One warm read of a cache file, in a process of its own, for ``make bench`` (issue 13 §5).

    python benchmarks/warm_read.py CACHE CODES {packs,all-rows,load} [--trace]

reads the HK records of ``HK.00001`` .. ``HK.<CODES>`` and prints one JSON line: seconds (wall
and CPU), the growth of the process's RSS high-water mark (``VmHWM``, see
:func:`reset_high_water`), the frames' size (``memory_usage(deep=True)``), and with ``--trace``
the tracemalloc peak (numpy's buffers included, pyarrow's not: its own pool's peak is reported
beside it).  A process per
measurement, because a high-water mark never comes down.  Before measuring it reads one code,
so that what a first read sets up once (lazy imports, pyarrow's pool) is not counted.

- ``packs``: what ``load_buybacks`` reads at its end (``Cache.frame``: the codes' packs);
- ``all-rows``: a construction from the rows, every row at once (``Cache.rows``, then
  ``DataFrame.from_records(...).astype(...)``);
- ``load``: ``load_buybacks(..., offline=True)`` itself, so that it sends no request.
"""

import gc
import json
import resource
import sys
import time
import tracemalloc

import pandas as pd

from futu_buybacks import Cache, load_buybacks
from futu_buybacks._schema import HK, A
from futu_buybacks._tidy import FIRST_SEEN, tidy_dtypes

SOURCE = "simulator:bench"  # benchmarks/run.py's WARM_SOURCE, at port 9

try:
    import pyarrow
except ImportError:
    pyarrow = None


def packs(cache, codes):
    return [cache.frame(schema, SOURCE, codes) for schema in (HK, A)]


def all_rows(cache, codes):
    frames = []
    for schema in (HK, A):
        rows = cache.rows(schema, SOURCE, codes)
        names = ["code", *schema.names, FIRST_SEEN]
        frame = pd.DataFrame.from_records(rows, columns=names, coerce_float=False) if rows else \
            pd.DataFrame({name: [] for name in names})
        del rows
        frames.append(frame.astype({k: v for k, v in tidy_dtypes(schema).items() if k != FIRST_SEEN}))
    return frames


def load(cache, codes):
    tables = load_buybacks(codes, host="127.0.0.1", port=9, cache=cache, progress=False, offline=True)
    assert tables.requests == 0 and tables.ok, (tables.requests, tables.errors)
    return tables.hk_buy_back_list, tables.a_buy_back_list


def _status(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"no {field} in /proc/self/status")


def reset_high_water():
    """The RSS now, the high-water mark brought down to it (Linux: ``clear_refs``).

    ``getrusage``'s ``ru_maxrss`` will not do in a child process: Linux carries it over from
    the parent through fork and exec (a parent at 500 MiB starts its children at 500 MiB).
    Elsewhere the high-water mark is ``getrusage``'s, measured from the process's own start.
    """
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return _status("VmRSS")
    except OSError:
        return high_water()


def high_water():
    try:
        return _status("VmHWM")
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def main(path, count, mode, trace=False):
    codes = [f"HK.{i:05d}" for i in range(1, int(count) + 1)]
    read = {"packs": packs, "all-rows": all_rows, "load": load}[mode]
    with Cache(path) as cache:
        read(cache, codes[:1])
        gc.collect()
        rss_before = reset_high_water()
        pool_before = pyarrow.total_allocated_bytes() if pyarrow else 0
        if trace:
            tracemalloc.start()
        start, cpu = time.perf_counter(), time.process_time()
        frames = read(cache, codes)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        traced = tracemalloc.get_traced_memory()[1] if trace else None
        tracemalloc.stop()
        rss_peak = high_water() - rss_before
        pool_peak = pyarrow.default_memory_pool().max_memory() - pool_before if pyarrow else 0
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "rss_peak": rss_peak, "traced_peak": traced,
                      "pyarrow_peak": pool_peak,
                      "frame_bytes": int(sum(f.memory_usage(deep=True).sum() for f in frames)),
                      "rows": sum(len(f) for f in frames),
                      "string_storage": getattr(frames[0]["code"].dtype, "storage", None)}))


if __name__ == "__main__":
    main(*sys.argv[1:4], trace="--trace" in sys.argv[4:])
