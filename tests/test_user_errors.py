"""Bad input to the command, the loader and the simulator: a message and an exit code, never a traceback.

The command-line checks run the real console command (``futu-buybacks``, or
``python -m futu_buybacks.simulator``) in a subprocess and read its stderr.
"""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from futu_buybacks import InvalidArgument, RateLimiter, load_buybacks
from futu_buybacks.simulator import Dataset, Simulator

from conftest import SDKS, shim_context_class

MISSING_SDKS = [name for name in ("futu", "moomoo") if name not in SDKS]


def console(*args, timeout=120):
    """The installed ``futu-buybacks`` console script (``python -m futu_buybacks`` if there is none)."""
    script = Path(sys.executable).with_name("futu-buybacks")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "futu_buybacks"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout)


def simulator_command(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "futu_buybacks.simulator", *args], capture_output=True,
                          text=True, timeout=timeout)


def assert_message(result, code, *fragments):
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.mark.skipif(not MISSING_SDKS, reason="both SDKs are installed")
def test_an_sdk_that_is_not_installed_is_a_message(simulator, tmp_path):
    missing = MISSING_SDKS[0]
    result = console("fetch", "HK.00700", "--sdk", missing, "--port", str(simulator.port), "--no-cache",
                     "--out-dir", str(tmp_path / "out"))
    assert_message(result, 2, f"{missing}-api is not installed", f"pip install {missing}-api")
    with pytest.raises(InvalidArgument, match=f"{missing}-api is not installed"):
        load_buybacks(["HK.00700"], port=simulator.port, sdk=missing, cache=False, progress=False)


BAD_LOADER_ARGUMENTS = [
    ({"num": 0}, "num must be an int in 1..50, got 0"),
    ({"num": 51}, "num must be an int in 1..50, got 51"),
    ({"num": "x"}, "num must be an int in 1..50 or None"),
    ({"num": 0.5}, r"num must be an int in 1..50, got 0.5 \(int\(num\) = 0\)"),
    ({"retries": -1}, "retries must be an int >= 0, got -1"),
    ({"retries": 1.5}, "retries must be an int >= 0, got 1.5"),
    ({"retries": None}, "retries must be an int >= 0, got None"),
    ({"rate": "fast"}, "rate must look like '30/30'"),
    ({"rate": 30}, r"rate must be 'N/SECONDS' such as '30/30', or \(N, SECONDS\), got 30"),
    ({"rate": (0, 30)}, "rate needs at least 1 request per a positive period"),
    ({"max_age": 7}, "max_age must be a datetime.timedelta or None"),
    ({"max_age": "7d"}, "max_age must be a datetime.timedelta or None"),
    ({"fresh_for": 3600}, "fresh_for must be a datetime.timedelta, got int 3600"),
    ({"fresh_for": None}, "fresh_for must be a datetime.timedelta, got NoneType"),
    ({"full": "yes"}, "full must be True or False"),
    ({"progress": "auto"}, "progress must be True, False or None"),
    ({"cache": 1.5}, "cache must be True, False, None, a path or a Cache"),
    ({"limiter": "30/30"}, "limiter must be a RateLimiter or None"),
    ({"port": "11111"}, "port must be an int in 1..65535"),
    ({"port": 0}, "port must be an int in 1..65535"),
    ({"host": ""}, "host must be a non-empty str"),
    ({"connect_timeout": 0}, "connect_timeout must be a positive number of seconds"),
    ({"clock": 5.0}, "clock must be a callable"),
]


@pytest.mark.skipif(not SDKS, reason="no SDK installed")
@pytest.mark.parametrize("kwargs, message", BAD_LOADER_ARGUMENTS, ids=[repr(k) for k, _ in BAD_LOADER_ARGUMENTS])
def test_loader_arguments_are_refused_before_connecting_or_requesting(kwargs, message, tmp_path):
    """``num=0`` used to cost 3 requests per code (OpenD refuses it, the loader retried); every
    argument is now checked before the cache is opened, a context connected or a request sent."""
    arguments = {"host": "127.0.0.1", "cache": tmp_path / "c.sqlite3", "progress": False, **kwargs}
    with Simulator() as sim:
        arguments.setdefault("port", sim.port)
        with pytest.raises(InvalidArgument, match=message):
            load_buybacks(["HK.00700", "HK.00005"], sdk=SDKS[0], **arguments)
        assert sum(sim.requests.values()) == 0  # not even InitConnect
    assert not (tmp_path / "c.sqlite3").exists()


@pytest.mark.skipif(not SDKS, reason="no SDK installed")
def test_num_follows_the_compatibility_methods_rule(simulator):
    """What ``int()`` turns into 1..50 is sent as that int, as by the method; None: the server's 10."""
    ctx = shim_context_class(__import__(SDKS[0]))(host=simulator.host, port=simulator.port)
    try:
        for num, pages in (("25", 1), (7.9, 4), (None, 3)):  # HK.00700 has 25 records
            assert load_buybacks("HK.00700", ctx, num=num, cache=False, progress=False,
                                 limiter=RateLimiter("1000/1")).requests == pages
    finally:
        ctx.close()


@pytest.mark.skipif(not SDKS, reason="no SDK installed")
def test_the_command_refuses_num_by_the_same_rule(tmp_path):
    result = console("fetch", "HK.00700", "--num", "51", "--no-cache", "--out-dir", str(tmp_path / "out"))
    assert_message(result, 2, "--num: num must be an int in 1..50, got 51")
    assert not (tmp_path / "out").exists()


def test_an_unknown_sdk_name_is_refused_before_connecting(simulator):
    sent = simulator.requests[3235]
    with pytest.raises(InvalidArgument, match="sdk must be 'futu' or 'moomoo'.*got 'futuu'"):
        load_buybacks(["HK.00700"], port=simulator.port, sdk="futuu", cache=False, progress=False)
    assert simulator.requests[3235] == sent


@pytest.mark.skipif(not SDKS, reason="no SDK installed")
def test_an_out_dir_that_is_a_file_is_refused_before_fetching(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("not a directory", encoding="utf-8")
    with Simulator() as sim:
        result = console("fetch", "HK.00700", "--port", str(sim.port), "--sdk", SDKS[0], "--no-cache",
                         "--out-dir", str(taken))
        assert sim.requests[3235] == 0
    assert_message(result, 2, f"--out-dir {taken}", "is not a directory")
    assert taken.read_text(encoding="utf-8") == "not a directory"


def test_the_simulator_on_a_port_in_use_says_so():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = simulator_command("--port", str(port))
    assert_message(result, 2, f"cannot listen on 127.0.0.1:{port}", "--port")


BAD_LINES = [
    ('[1, 2]', "expected a JSON object"),
    ('"HK.00700"', "expected a JSON object"),
    ('{"publ_date": 1}', "\"code\" is missing"),
    ('{"code": "HK.00700", "publ_date": "2026-01-01"}',
     "HK.00700 publ_date must be an integer (Unix seconds), got str '2026-01-01'"),
    ('{"code": "HK.00700", "buy_back_sum": 1.5}', "HK.00700 buy_back_sum must be an integer"),
    ('{"code": "HK.00700", "buy_back_sum": true}', "HK.00700 buy_back_sum must be an integer"),
    ('{"code": "HK.00700", "buy_back_money": "1.5"}', "HK.00700 buy_back_money must be a number"),
    ('{"code": "HK.00700", "share_type": 5}', "HK.00700 share_type must be a string"),
    ('{"code": "HK.00700", "publ_date": -1}', "HK.00700 publ_date is out of range"),
    ('{"code": "SZ.000001", "buy_back_sum": 99999999999999999999}', "SZ.000001 buy_back_sum is out of range"),
]


@pytest.mark.parametrize("line, message", BAD_LINES, ids=range(len(BAD_LINES)))
def test_the_dataset_is_validated_when_loaded(tmp_path, line, message):
    path = tmp_path / "data.jsonl"
    path.write_text('{"code": "HK.00700", "publ_date": 1775664000}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        Dataset.load(path)
    assert str(caught.value).startswith(f"{path}:2: ")
    assert message in str(caught.value)


def test_a_bad_dataset_stops_the_simulator_command_with_file_line_and_field(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('\ufeff{"code": "HK.00700", "publ_date": 1775664000}\n'
                    '{"code": "HK.00700", "publ_date": "2026-01-01"}\n', encoding="utf-8")
    result = simulator_command("--data", str(path), "--port", "0")
    assert_message(result, 2, f"{path}:2: HK.00700 publ_date must be an integer")


def test_records_given_in_code_are_validated_too():
    with pytest.raises(ValueError, match=r"HK.00700 record 2: publ_date must be an integer"):
        Dataset({"HK.00700": [{"publ_date": 1}, {"publ_date": "2026-01-01"}]})


@pytest.mark.skipif(not SDKS, reason="no SDK installed")
def test_a_record_broken_after_loading_is_an_error_reply_not_a_disconnect(sdk):
    with Simulator(Dataset.sample()) as sim:
        sim.dataset.records["HK.00700"][1]["publ_date"] = "2026-01-01"
        ctx = shim_context_class(sdk)(host=sim.host, port=sim.port)
        try:
            ret, message = ctx.get_corporate_actions_buybacks("HK.00700", num=5)
            after = ctx.get_corporate_actions_buybacks("SZ.000001", num=5)
        finally:
            ctx.close()
    assert ret == -1 and "HK.00700 record 2" in message and "publ_date" in message
    assert after[0] == 0


@pytest.mark.skipif(not SDKS, reason="no SDK installed")
def test_a_codes_file_with_a_bom_and_one_that_is_not_utf8(simulator, tmp_path):
    bom = tmp_path / "bom.txt"
    bom.write_text("\ufeffHK.00700\nSZ.000001\n", encoding="utf-8")
    result = console("fetch", "--codes-file", str(bom), "--port", str(simulator.port), "--sdk", SDKS[0],
                     "--no-cache", "--out-dir", str(tmp_path / "out"))
    assert_message(result, 0, "2 codes ok, 0 failed")
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("HK.00700  # Tencent, Société\n".encode("latin-1"))
    result = console("fetch", "--codes-file", str(latin), "--out-dir", str(tmp_path / "out"))
    assert_message(result, 2, f"--codes-file {latin} is not UTF-8")


@pytest.mark.skipif(not SDKS, reason="no SDK installed")
def test_a_single_code_is_one_code(sdk, simulator):
    ctx = sdk.OpenQuoteContext(host=simulator.host, port=simulator.port)
    try:
        tables = load_buybacks("HK.00700", ctx, cache=False, limiter=RateLimiter("1000/1"), progress=False)
    finally:
        ctx.close()
    assert tables.errors == {}
    assert len(tables.hk_buy_back_list) == len(simulator.dataset.records["HK.00700"])


def test_rate_that_is_not_n_per_seconds_is_explained_by_the_simulator():
    result = simulator_command("--rate", "abc")
    assert_message(result, 2, "--rate: rate must look like '30/30' (requests/seconds), got 'abc'")

