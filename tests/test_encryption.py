"""Encrypted links end to end: the SDK's RSA InitConnect and AES packets, through the shim."""

import importlib
import logging
import os

import pytest

from futu_buybacks import RET_OK
from futu_buybacks.simulator import Simulator
from futu_buybacks.simulator._crypto import PacketCipher

from conftest import all_pages, assert_same_result, has_native, shim_context_class

pytestmark = pytest.mark.e2e

Crypto = pytest.importorskip("Crypto.PublicKey.RSA")


@pytest.fixture(scope="module")
def key_file(tmp_path_factory):
    """A 1024-bit RSA private key, as OpenD's and the SDK's shared key file."""
    path = tmp_path_factory.mktemp("rsa") / "conn_key.pem"
    path.write_bytes(Crypto.generate(1024).export_key())
    os.chmod(path, 0o600)
    return path


@pytest.fixture
def rsa_sdk(sdk, key_file):
    """The SDK with its key file set; the global setting is undone afterwards."""
    sys_config = importlib.import_module(f"{sdk.__name__}.common.sys_config")
    sdk.SysConfig.set_init_rsa_file(str(key_file))
    yield sdk
    sdk.SysConfig.INIT_RSA_FILE = ""
    sdk.SysConfig.RSA_OBJ = None
    sys_config.RsaCrypt.CHIPPER = None


@pytest.mark.parametrize("packet_algo", ["auto", "ftaes_ecb"])
def test_shim_over_an_encrypted_link(rsa_sdk, key_file, packet_algo, caplog):
    caplog.set_level(logging.DEBUG)
    with Simulator(rsa_key=key_file.read_text(), packet_algo=packet_algo) as sim:
        ctx = shim_context_class(rsa_sdk)(host=sim.host, port=sim.port, is_encrypt=True)
        try:
            got = all_pages(ctx, "SZ.000001", 7)
            rows = sum(len(page["a_buy_back_list"]) for page in got)
            assert rows == len(sim.dataset.records["SZ.000001"])
            # every request after InitConnect arrived AES-encrypted
            assert sim.encrypted == sum(sim.requests.values())
            conn_info = importlib.import_module(f"{rsa_sdk.__name__}.common.conn_mng").FutuConnMng.get_conn_info(
                ctx.get_sync_conn_id())
            assert (conn_info["conn_iv"] is None) == (packet_algo == "ftaes_ecb")
            assert conn_info["conn_key"] not in caplog.text
            if has_native(rsa_sdk.__name__):
                native = rsa_sdk.OpenQuoteContext.get_corporate_actions_buybacks
                for num in (3, 50):
                    assert_same_result(ctx.get_corporate_actions_buybacks("HK.00700", num=num),
                                       native(ctx, "HK.00700", num=num))
        finally:
            ctx.close()


def test_plain_clients_still_served_by_an_encrypting_simulator(sdk, key_file):
    with Simulator(rsa_key=key_file.read_text()) as sim:
        ctx = shim_context_class(sdk)(host=sim.host, port=sim.port, is_encrypt=False)
        try:
            assert ctx.get_corporate_actions_buybacks("HK.00700", num=3)[0] == RET_OK
            assert sim.encrypted == 0
        finally:
            ctx.close()


@pytest.mark.parametrize("iv", [None, "fedcba9876543210"])
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000])
def test_packet_cipher_round_trip(iv, size):
    cipher = PacketCipher("0123456789abcdef", iv)
    plain = bytes(range(256)) * 4
    plain = plain[:size]
    sealed = cipher.encrypt(plain)
    assert sealed != plain and len(sealed) % 16 == 0
    assert cipher.decrypt(sealed) == plain
    assert "0123456789abcdef" not in repr(cipher)
