"""The exceptions raised below the SDK boundary.

Every layer under the compatibility method raises one of these; the method itself never
raises for bad input, server errors or broken connections: it turns them into the SDK's
``(RET_ERROR, message)`` convention at the boundary (``_shim.py``).

    BuybacksError
    ├── InvalidArgument      a parameter the server would reject; nothing was sent
    ├── ServerError          OpenD answered with retType != 0 (message passed through)
    ├── TransportError       the request did not complete (timeout, disconnect, bad frame)
    └── HostUnsupported      the object is not an OpenQuoteContext this shim knows how to drive
"""


class BuybacksError(Exception):
    """Base class of every error futu-buybacks raises."""


class InvalidArgument(BuybacksError, ValueError):
    """A parameter is malformed or out of range; the message names it and what is accepted."""


class ServerError(BuybacksError):
    """OpenD answered the request with an error; ``str()`` is OpenD's own message."""

    def __init__(self, message: str, ret_type: int = -1, err_code: "int | None" = None):
        super().__init__(message)
        self.ret_type = ret_type
        self.err_code = err_code


class TransportError(BuybacksError):
    """The request did not complete: connection closed, timeout, undecodable reply."""


class HostUnsupported(BuybacksError, TypeError):
    """The context is not a futu-api / moomoo-api OpenQuoteContext."""
