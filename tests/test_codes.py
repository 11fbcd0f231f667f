"""Validation of code, num and next_key, before anything is sent."""

import pytest

from futu_buybacks._codes import MARKETS, Security, make_query, parse_code
from futu_buybacks._errors import InvalidArgument


@pytest.mark.parametrize("code, market, symbol", [
    ("HK.00700", 1, "00700"), ("SH.600519", 21, "600519"), ("SZ.000001", 22, "000001"),
    ("HK.800000", 1, "800000"), ("HK.02800", 1, "02800"),
])
def test_valid_codes(code, market, symbol):
    security = parse_code(code)
    assert security == Security(market, symbol)
    assert str(security) == code


BAD_CODES = [
    (None, "code must be a str"), (700, "code must be a str"), (b"HK.00700", "code must be a str"),
    (["HK.00700"], "code must be a str"), ("", "not of the form"), ("HK.", "not of the form"),
    (".00700", "not of the form"), ("00700", "not of the form"), ("HK00700", "not of the form"),
    ("hk.00700", "did you mean 'HK.00700'"), ("Sh.600519", "did you mean 'SH.600519'"),
    (" HK.00700", "whitespace"), ("HK.00700 ", "whitespace"), ("HK. 00700", "whitespace"),
    ("HK.007\n00", "whitespace"), ("US.AAPL", "'US' is not served"), ("HK_FUTURE.999010", "not served"),
    ("SG.D05", "not served"), ("CC.BTC", "not served"), ("HK.0070.0", "ASCII letters or digits"),
    ("HK.００７００", "ASCII letters or digits"), ("HK.腾讯", "ASCII letters or digits"),
    ("HK." + "7" * 10_000, "ASCII letters or digits"), ("HK.00700;DROP", "ASCII letters or digits"),
]


@pytest.mark.parametrize("code, expected", BAD_CODES)
def test_bad_codes_name_the_parameter_and_what_is_accepted(code, expected):
    with pytest.raises(InvalidArgument) as info:
        parse_code(code)
    message = str(info.value)
    assert expected in message
    assert message.startswith("code")
    assert len(message) < 300, "a 10 kB code must not be echoed back whole"


@pytest.mark.parametrize("num", [None, 1, 10, 50])
def test_valid_num(num):
    assert make_query("HK.00700", num=num).num == num


@pytest.mark.parametrize("num", [0, 51, -1, True, False, "10", 10.0, 1.5, [10]])
def test_bad_num(num):
    with pytest.raises(InvalidArgument, match=r"^num must be an int in 1\.\.50"):
        make_query("HK.00700", num=num)


@pytest.mark.parametrize("next_key", [None, "10", "-1", "abc"])
def test_next_key_passed_through_unchanged(next_key):
    assert make_query("HK.00700", next_key=next_key).next_key == next_key


@pytest.mark.parametrize("next_key", [10, b"10", "", 1.0, ["10"]])
def test_bad_next_key(next_key):
    with pytest.raises(InvalidArgument, match=r"^next_key must be None \(first page\) or"):
        make_query("HK.00700", next_key=next_key)


def test_markets_are_the_ones_protocol_3235_serves():
    assert MARKETS == {"HK": 1, "SH": 21, "SZ": 22}
