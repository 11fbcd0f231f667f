"""The catch-rate benchmark's harness (benchmarks/refresh_catch.py) on a small world: what it
counts, and that the naive refresh it compares with catches everything."""

import sys
from pathlib import Path

import pytest

from conftest import SDKS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import refresh_catch as rc  # noqa: E402


def test_catch_rates_count_within_1_and_5_sessions_of_becoming_known():
    plan = rc.Budget(0.25, cache=None)
    known = {("HK.00001", (1,)): 10, ("HK.00001", (2,)): 10, ("HK.00002", (1,)): 12, ("SH.600000", (1,)): 18}
    plan.delays = {("HK.00001", (1,)): 0, ("HK.00001", (2,)): 4, ("HK.00002", (1,)): 5}  # SH.600000: never
    active = {("HK.00001", (1,)), ("HK.00002", (1,))}
    rates = rc.catch_rates(plan, known, active, last=19)
    assert rates["all_1"] == 1 / 4 and rates["active_1"] == 1 / 2
    # within 5: the record of session 18 has no fifth session (19 is the last): not counted
    assert rates["all_5"] == 2 / 3 and rates["active_5"] == 1 / 2


@pytest.mark.e2e
@pytest.mark.skipif("futu" not in SDKS, reason="futu-api not installed")
def test_a_small_run_catches_everything_at_the_naive_budget(tmp_path):
    import futu

    results = rc.measure(tmp_path, futu, budgets=(0.25, 1.0), sessions=8, hk=30, a=30, years=2, log=lambda _: None)
    assert results.codes == 60 and results.new > 0 and results.naive_requests == 60
    assert results.naive_measured == results.naive_expected == 60 and results.naive_caught
    quarter, every = results.rows
    assert every["requests"] == 1.0 and every["all_1"] == every["all_5"] == every["active_1"] == 1.0
    assert quarter["requests"] == pytest.approx(15 / 60) and 0 <= quarter["all_1"] <= quarter["all_5"] <= 1
    assert results.tcp_ms > 0 and results.fake_ms > 0
    rc.write_svg(tmp_path / "curve.svg", "a small run", results.rows, [(25, 0.99, "target")])
    assert (tmp_path / "curve.svg").read_text(encoding="utf-8").count("<polyline") == len(rc.SERIES)
