"""OpenD's link encryption, server side: RSA for InitConnect, AES for every later packet.

What the SDKs do (futu-api / moomoo-api 9.6 through 10.11, ``common/utils.py`` and
``common/conn_mng.py``), which the simulator mirrors:

* InitConnect's request body is RSA-encrypted (PKCS#1 v1.5, 100-byte plain chunks, 1024-bit
  key so 128-byte cipher chunks) with the public half of the key file both sides share. When
  the client asked for encryption, the reply is encrypted the same way.
* The InitConnect reply carries ``connAESKey`` (16 characters) and, when the server chooses
  AES-CBC, ``aesCBCiv`` (16 characters). Every later body in both directions is AES-128:
  CBC with PKCS#7 padding when an IV was given, else "FTAES-ECB": ECB over the body padded
  with zeros, followed by one 16-byte block whose last byte is the length of the body's last
  partial block (0 when none).
* The header's SHA1 is always the digest of the plain body.

PyCryptodome is imported only when a simulator is given a key (the SDKs depend on it).
"""

import secrets
from typing import Any, Optional

RSA_PLAIN_CHUNK = 100
RSA_CIPHER_CHUNK = 128  # 1024-bit keys, the only size the SDKs' chunking supports
AES_BLOCK = 16

#: Common.PacketEncAlgo values.
ALGO_FTAES_ECB, ALGO_NONE, ALGO_AES_ECB, ALGO_AES_CBC = 0, -1, 1, 2
#: What the simulator can answer to a client that asks for encryption.
PACKET_ALGOS = ("auto", "ftaes_ecb")


class CryptoError(Exception):
    """A body could not be decrypted with the link's key."""


def _pycryptodome() -> Any:
    try:
        from Crypto.Cipher import AES, PKCS1_v1_5
        from Crypto.PublicKey import RSA
    except ImportError as exc:  # pragma: no cover - the SDKs install it
        raise ImportError("the simulator's encryption needs PyCryptodome: pip install pycryptodome") from exc
    return AES, PKCS1_v1_5, RSA


class RsaKey:
    """The key file shared by OpenD and the SDK (``SysConfig.set_init_rsa_file``)."""

    def __init__(self, pem: str):
        _, pkcs1, rsa = _pycryptodome()
        key = rsa.import_key(pem)
        if not key.has_private():
            raise ValueError("the RSA key must be a private key (the SDK's key file holds one)")
        if key.size_in_bits() != 8 * RSA_CIPHER_CHUNK:
            raise ValueError(f"the SDKs only handle 1024-bit RSA keys, got {key.size_in_bits()} bits")
        self._cipher = pkcs1.new(key)

    def encrypt(self, plain: bytes) -> bytes:
        return b"".join(self._cipher.encrypt(plain[i:i + RSA_PLAIN_CHUNK])
                        for i in range(0, len(plain), RSA_PLAIN_CHUNK))

    def decrypt(self, data: bytes) -> bytes:
        if not data or len(data) % RSA_CIPHER_CHUNK:
            raise CryptoError(f"RSA body of {len(data)} bytes is not a multiple of {RSA_CIPHER_CHUNK}")
        failed = object()
        chunks = []
        for i in range(0, len(data), RSA_CIPHER_CHUNK):
            chunk = self._cipher.decrypt(data[i:i + RSA_CIPHER_CHUNK], failed)
            if chunk is failed:
                raise CryptoError("RSA decryption failed (is the SDK using the same key file?)")
            chunks.append(chunk)
        return b"".join(chunks)


class PacketCipher:
    """AES for one connection after InitConnect; ``iv`` None means FTAES-ECB."""

    def __init__(self, key: str, iv: Optional[str] = None):
        self._aes = _pycryptodome()[0]
        self._key = key.encode("ascii")
        self._iv = iv.encode("ascii") if iv is not None else None

    @classmethod
    def new(cls, cbc: bool) -> "PacketCipher":
        """Fresh random key (and IV for CBC), as OpenD draws them for each connection."""
        return cls(secrets.token_hex(AES_BLOCK // 2), secrets.token_hex(AES_BLOCK // 2) if cbc else None)

    @property
    def key(self) -> str:
        return self._key.decode("ascii")

    @property
    def iv(self) -> Optional[str]:
        return None if self._iv is None else self._iv.decode("ascii")

    def __repr__(self) -> str:  # never show the key
        return f"PacketCipher({'AES-CBC' if self._iv else 'FTAES-ECB'})"

    def _cipher(self) -> Any:
        if self._iv is None:
            return self._aes.new(self._key, self._aes.MODE_ECB)
        return self._aes.new(self._key, self._aes.MODE_CBC, iv=self._iv)

    def encrypt(self, plain: bytes) -> bytes:
        tail = len(plain) % AES_BLOCK
        if self._iv is not None:
            pad = AES_BLOCK - tail
            return self._cipher().encrypt(plain + bytes([pad]) * pad)
        padded = plain + b"\x00" * ((AES_BLOCK - tail) % AES_BLOCK)
        return self._cipher().encrypt(padded) + b"\x00" * (AES_BLOCK - 1) + bytes([tail])

    def decrypt(self, data: bytes) -> bytes:
        if not data or len(data) % AES_BLOCK:
            raise CryptoError(f"AES body of {len(data)} bytes is not a multiple of {AES_BLOCK}")
        if self._iv is not None:
            plain = self._cipher().decrypt(data)
            pad = plain[-1]
            if not 1 <= pad <= AES_BLOCK or plain[-pad:] != bytes([pad]) * pad:
                raise CryptoError("AES-CBC padding is invalid (wrong key?)")
            return plain[:-pad]
        tail = data[-1]
        plain = self._cipher().decrypt(data[:-AES_BLOCK])
        if tail >= AES_BLOCK:
            raise CryptoError("FTAES-ECB trailer is invalid")
        return plain[:len(plain) - (AES_BLOCK - tail)] if tail else plain
