"""One source per cache: the simulator's records never end up in an OpenD's results, an
unreachable OpenD is an error even when the cache could answer, ``--offline`` reads explicitly,
and ``cache info`` / ``cache clear`` (real SDK, real sockets, the CLI in a subprocess)."""

import logging
import socket
import subprocess
import sys

import pytest

from futu_buybacks import Cache, RateLimiter, load_buybacks
from futu_buybacks._schema import HK
from futu_buybacks._sources import source_of
from futu_buybacks.simulator import Dataset, Simulator, synthetic_records

from conftest import SDKS

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not SDKS, reason="no SDK installed")]


class PlainOpenD(Simulator):
    """The simulator without its GetGlobalState announcement: what a real OpenD answers."""

    def _global_state(self, state, request):
        reply = super()._global_state(state, request)
        reply.s2c.ClearField("programStatus")
        return reply


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "futu_buybacks", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_each_side_says_who_it_is_over_the_wire(sdk):
    for server, expected in ((Simulator(), "simulator:sample"), (PlainOpenD(), "opend:10000001")):
        with server:
            ctx = sdk.OpenQuoteContext(host=server.host, port=server.port)
            try:
                assert source_of(ctx) == expected
            finally:
                ctx.close()


def test_the_simulators_records_never_reach_a_load_from_opend_on_the_same_port(sdk, tmp_path, caplog):
    """Reproduced: the README's simulator on 11111, then a real OpenD on 11111 within an hour:
    the sample came back with 0 requests; later the two were merged (27 rows where OpenD has 2)."""
    port, path = free_port(), tmp_path / "c.sqlite3"
    kwargs = dict(host="127.0.0.1", port=port, sdk=sdk.__name__, cache=path, progress=False,
                  limiter=RateLimiter("1000/1"))
    with Simulator(port=port) as sim:
        sample = load_buybacks(["HK.00700"], **kwargs)
    assert sample.source == sim.source and len(sample.hk_buy_back_list) == 25
    opend_records = synthetic_records("HK.00700", 2, seed=7)
    with PlainOpenD(Dataset({"HK.00700": opend_records}), port=port):
        with caplog.at_level(logging.WARNING, logger="futu_buybacks"):
            real = load_buybacks(["HK.00700"], **kwargs)
        again = load_buybacks(["HK.00700"], **kwargs)  # fresh now: no request, OpenD's records only
    assert real.source == "opend:10000001" and real.requests == 1
    assert list(real.hk_buy_back_list["end_date"]) == [r["end_date"] for r in opend_records]
    assert again.requests == 0 and again.hk_buy_back_list.equals(real.hk_buy_back_list)
    assert f"127.0.0.1:{port} now serves opend:10000001 (it served simulator:sample)" in caplog.text
    with Cache(path) as cache:  # the sample is still there, under its own name
        assert len(cache.rows(HK, "simulator:sample", ["HK.00700"])) == 25
    offline = load_buybacks(["HK.00700"], port=port, cache=path, offline=True)
    assert offline.source == "opend:10000001" and offline.hk_buy_back_list.equals(real.hk_buy_back_list)


def test_cli_unreachable_opend_is_exit_3_even_with_a_warm_cache_and_offline_reads_it(tmp_path):
    """Reproduced: `fetch HK.00700 --port 11199` with nothing listening printed "1 codes ok ...
    (0 requests)" and exit code 0 from the cache."""
    port, cache = free_port(), str(tmp_path / "c.sqlite3")
    with Simulator(port=port):
        first = cli("fetch", "HK.00700", "--port", str(port), "--cache", cache, "--out-dir", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr
    down = cli("fetch", "HK.00700", "--port", str(port), "--cache", cache, "--out-dir", str(tmp_path / "b"))
    assert down.returncode == 3
    assert f"cannot reach OpenD at 127.0.0.1:{port}: connection refused" in down.stderr
    assert "Traceback" not in down.stderr and not (tmp_path / "b" / "hk_buy_back_list.csv").exists()
    offline = cli("fetch", "HK.00700", "--port", str(port), "--cache", cache, "--out-dir", str(tmp_path / "c"),
                  "--offline")
    assert offline.returncode == 0, offline.stderr
    assert "1 code ok, 0 failed; 25 HK and 0 A-share records" in offline.stderr and "(0 requests)" in offline.stderr
    written = [(tmp_path / out / "hk_buy_back_list.csv").read_bytes() for out in ("a", "c")]
    assert written[0] == written[1]
    elsewhere = cli("fetch", "HK.00700", "--port", "1", "--cache", cache, "--out-dir", str(tmp_path / "d"),
                    "--offline")
    assert elsewhere.returncode == 3 and "has nothing from OpenD at 127.0.0.1:1" in elsewhere.stderr


def test_cache_info_and_clear(sdk, tmp_path):
    port, path = free_port(), tmp_path / "c.sqlite3"
    with Simulator(port=port):
        assert load_buybacks(["HK.00700", "SZ.000001"], port=port, cache=path, progress=False).ok
    with Cache(path) as cache:  # a second source, as a real OpenD's load would leave
        fetch = cache.begin_full_fetch("opend:42", "HK.00700", 1.0)
        cache.store_page(fetch, synthetic_records("HK.00700", 3), next_key="-1", now=1.0)
    info = cli("cache", "info", "--cache", str(path))
    assert info.returncode == 0, info.stderr
    lines = info.stdout.splitlines()
    assert lines[0].startswith(f"cache: {path} (") and lines[0].endswith(" MiB)")
    assert lines[1].split() == ["source", "codes", "HK", "records", "A-share", "records", "last", "refresh",
                                "confirmed", "at"]
    assert lines[2].split()[:4] == ["opend:42", "1", "3", "0"] and lines[2].split()[-1] == "-"
    assert lines[3].split()[:4] == ["simulator:sample", "2", "25", "30"]
    assert lines[3].split()[-1] == f"127.0.0.1:{port}"

    typo = cli("cache", "clear", "--cache", str(path), "--source", "simulator:smaple")
    assert typo.returncode == 2 and "no source 'simulator:smaple' (it has: opend:42, simulator:sample)" in typo.stderr
    bad = cli("cache", "clear", "--cache", str(path), "hk.00700")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    one = cli("cache", "clear", "--cache", str(path), "--source", "simulator:sample", "SZ.000001")
    assert one.returncode == 0 and "forgot 30 records (1 code, source simulator:sample)" in one.stderr
    everything = cli("cache", "clear", "--cache", str(path))
    assert everything.returncode == 0 and "forgot 28 records (every code, every source)" in everything.stderr
    assert cli("cache", "info", "--cache", str(path)).stdout.splitlines()[1] == "no records"
    missing = cli("cache", "info", "--cache", str(tmp_path / "none.sqlite3"))
    assert missing.returncode == 0 and "no cache at" in missing.stderr
