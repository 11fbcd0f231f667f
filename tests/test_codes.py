"""Validation of code, num and next_key, before anything is sent.

The rule (docs/api.md, "Input, compared with the native method"; every row checked against the
SDK in test_vendor_inputs.py): what the native method sends and OpenD answers is accepted and
sent as the native method sends it; the rest is refused with a message saying what is accepted.
"""

import decimal
import fractions

import numpy as np
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


def test_a_str_subclass_is_a_code_as_the_sdk_reads_it():
    security = parse_code(np.str_("HK.00700"))  # the items of a numpy array of codes
    assert security == Security(1, "00700") and type(security.symbol) is str


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


@pytest.mark.parametrize("num, sent", [
    (np.int64(50), 50), (np.int32(1), 1), (np.uint8(3), 3), (np.float64(5.0), 5), (50.0, 50), (7.9, 7),
    (50.9, 50), (1.5, 1), ("10", 10), (" 10 ", 10), ("+10", 10), ("1_0", 10), (b"10", 10), (True, 1),
    (np.True_, 1), (decimal.Decimal("7.9"), 7), (fractions.Fraction(21, 2), 10), (np.array(10), 10),
])
def test_num_is_what_int_makes_of_it_as_the_sdk_sends(num, sent):
    value = make_query("HK.00700", num=num).num
    assert value == sent and type(value) is int


@pytest.mark.parametrize("num, shown", [
    (0, "got 0"), (51, "got 51"), (-1, "got -1"), (2**31, "got 2147483648"), (False, "got False (int(num) = 0)"),
    (0.5, "got 0.5 (int(num) = 0)"), (-0.5, "(int(num) = 0)"), (51.0, "got 51.0 (int(num) = 51)"),
    (np.int64(0), "(int(num) = 0)"),
])
def test_num_out_of_range(num, shown):
    with pytest.raises(InvalidArgument, match=r"^num must be an int in 1\.\.50, got ") as info:
        make_query("HK.00700", num=num)
    assert shown in str(info.value) and len(str(info.value)) < 200


@pytest.mark.parametrize("num", ["10.0", "0x10", "abc", "", float("nan"), float("inf"), [10], 1j, {}])
def test_num_int_cannot_convert(num):
    with pytest.raises(InvalidArgument, match=r"^num must be an int in 1\.\.50 or None \(a value int\(\) converts"):
        make_query("HK.00700", num=num)


@pytest.mark.parametrize("next_key", [None, "10", "-1", "abc", "", "\x00", "翻页"])
def test_next_key_passed_through_unchanged(next_key):
    assert make_query("HK.00700", next_key=next_key).next_key == next_key


@pytest.mark.parametrize("next_key, sent", [(b"10", "10"), (b"", ""), (b"-1", "-1"), ("翻页".encode(), "翻页"),
                                            (np.bytes_(b"10"), "10"), (np.str_("10"), "10")])
def test_next_key_utf8_bytes_are_the_str_they_encode(next_key, sent):
    value = make_query("HK.00700", next_key=next_key).next_key
    assert value == sent and isinstance(value, str)


@pytest.mark.parametrize("next_key, words", [
    (10, "got int 10"), (1.0, "got float"), (True, "got bool"), (["10"], "got list"),
    (bytearray(b"10"), "got bytearray"), (memoryview(b"10"), "got memoryview"),
    (b"\xff", "which is not UTF-8"), (b"\xed\xa0\x80", "which is not UTF-8"), ("\ud800", "no UTF-8 form"),
])
def test_bad_next_key(next_key, words):
    with pytest.raises(InvalidArgument, match=r"^next_key must be None \(first page\) or") as info:
        make_query("HK.00700", next_key=next_key)
    assert words in str(info.value)


def test_values_that_cannot_be_shown_are_named_by_type():
    class Unprintable:
        def __repr__(self):
            raise RuntimeError("no repr")

    for kwargs in ({"code": Unprintable()}, {"code": "HK.00700", "num": Unprintable()}):
        with pytest.raises(InvalidArgument, match="that cannot be shown"):
            make_query(**kwargs)
    # past sys.get_int_max_str_digits() (Python 3.11, and patch releases of 3.9 / 3.10) repr() raises
    huge = 10**5000
    for kwargs in ({"code": huge}, {"code": "HK.00700", "next_key": huge}, {"code": "HK.00700", "num": huge}):
        with pytest.raises(InvalidArgument) as info:
            make_query(**kwargs)
        assert len(str(info.value)) < 300


def test_markets_are_the_ones_protocol_3235_serves():
    assert MARKETS == {"HK": 1, "SH": 21, "SZ": 22}
