"""The ``futu-buybacks`` command: files written, summary, exit codes, friendly failures."""

import json
import socket
import subprocess
import sys

import pandas as pd
import pytest

from futu_buybacks.simulator import Dataset, Listing, Simulator, synthetic_records

from conftest import SDKS

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not SDKS, reason="no SDK installed")]


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "futu_buybacks", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def sim():
    with Simulator() as simulator:
        yield simulator


def fetch(sim, tmp_path, *args):
    cache = [] if "--no-cache" in args else ["--cache", str(tmp_path / "c.sqlite3")]
    return cli("fetch", "--port", str(sim.port), "--sdk", SDKS[0], "--out-dir", str(tmp_path / "out"),
               *cache, *args)


def test_fetch_writes_both_tables_with_code_first(sim, tmp_path):
    result = fetch(sim, tmp_path, "HK.00700", "SZ.000001", "HK.01810")
    assert result.returncode == 0, result.stderr
    assert "3 codes ok, 0 failed; 85 HK and 30 A-share records" in result.stderr
    assert result.stdout == ""
    hk = pd.read_csv(tmp_path / "out" / "hk_buy_back_list.csv")
    a = pd.read_csv(tmp_path / "out" / "a_buy_back_list.csv", dtype={"code": str})
    assert list(hk.columns)[:2] == ["code", "publ_date"] and len(hk) == 85
    assert list(a.columns)[0] == "code" and set(a["code"]) == {"SZ.000001"}
    assert hk["buy_back_money"].iloc[0] == 1000880717.6


def test_failed_codes_are_listed_with_a_nonzero_exit(sim, tmp_path):
    codes = tmp_path / "codes.txt"
    codes.write_text("# universe\nHK.00700\nHK.99999  # delisted\nhk.00005\n", encoding="utf-8")
    result = fetch(sim, tmp_path, "--codes-file", str(codes), "--format", "jsonl")
    assert result.returncode == 1
    assert "FAILED HK.99999: unknown stock HK.99999" in result.stderr
    assert "FAILED hk.00005: code market must be upper case" in result.stderr
    lines = (tmp_path / "out" / "hk_buy_back_list.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 25 and json.loads(lines[0])["share_type"] == "普通股"


def test_parquet(sim, tmp_path):
    pytest.importorskip("pyarrow")
    result = fetch(sim, tmp_path, "SH.600519", "--format", "parquet", "--no-cache")
    assert result.returncode == 0, result.stderr
    assert len(pd.read_parquet(tmp_path / "out" / "a_buy_back_list.parquet")) == 12


def test_fetch_a_market_lists_its_codes_from_opend(tmp_path):
    dataset = Dataset({"HK.00005": synthetic_records("HK.00005", 4)})
    universe = ["HK.00001", Listing("HK.02800", "盈富基金", "ETF"), Listing("HK.00002", "中电控股", delisted=True),
                "SZ.000001", "SH.600000"]
    with Simulator(dataset, universe=universe) as small:
        result = fetch(small, tmp_path, "--market", "HK", "--market", "SZ", "--rate", "1000/1")
        assert (small.requests[3202], small.requests[3235]) == (4, 4)
    assert result.returncode == 0, result.stderr
    assert "4 codes ok, 0 failed; 4 HK and 0 A-share records" in result.stderr  # HK.00001, 00005, 02800; SZ.000001
    assert set(pd.read_csv(tmp_path / "out" / "hk_buy_back_list.csv")["code"]) == {"HK.00005"}


@pytest.mark.parametrize("args, message", [
    (["--market", "HK", "HK.00700"], "--market lists the codes itself: give it without CODE... and --codes-file"),
    (["--market", "HK,NYSE"], "market 'NYSE' is not one protocol 3235 serves; accepted: HK, SH, SZ, A"),
])
def test_bad_market_arguments_are_refused_before_connecting(tmp_path, capsys, args, message):
    from futu_buybacks._cli import main
    assert main(["fetch", "--port", "1", "--out-dir", str(tmp_path / "out"), "--no-cache", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_unreachable_opend_is_a_message_not_a_traceback(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = cli("fetch", "HK.00700", "--port", str(port), "--out-dir", str(tmp_path), "--no-cache")
    assert result.returncode == 3
    assert f"cannot reach OpenD at 127.0.0.1:{port}" in result.stderr
    assert f"python -m futu_buybacks.simulator --port {port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--num", "0"], "--num: num must be an int in 1..50, got 0"),
    (["--rate", "fast"], "rate must look like '30/30'"),
    ([], None),
])
def test_bad_arguments(tmp_path, args, message):
    result = cli("fetch", *(["HK.00700"] if args else []), "--out-dir", str(tmp_path), *args)
    assert result.returncode == 2
    assert (message or "no codes given") in result.stderr


def test_console_script_is_declared():
    import configparser
    from pathlib import Path
    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    assert "futu-buybacks = futu_buybacks._cli:main" in config["options.entry_points"]["console_scripts"]
