"""A TCP server speaking OpenD's wire protocol, enough for the SDK and protocols 3235, 3219 and 3202.

It answers InitConnect (1001), GetGlobalState (1002), KeepAlive (1004),
Qot_RequestTradeDate (3219, the HK and mainland calendars), Qot_GetStaticInfo (3202, the
universe it lists: ``_universe.py``) and Qot_GetCorporateActionsBuybacks (3235) in the format of
the request (protobuf or JSON), pages 3235 by ``nextKey``, answers unknown codes and protocols
with an error reply, can enforce the vendor's rate limit, encrypts links as OpenD does when given
the SDK's RSA key file, and can be told to misbehave (:meth:`Simulator.inject`).

It serves a fixed :class:`Dataset`, or a world (:class:`SyntheticMarket`) that moves on by
session when told to (:meth:`Simulator.advance`), serving at each session what the world knew at
its end.
"""

import calendar
import collections
import datetime as dt
import hashlib
import itertools
import logging
import random
import secrets
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, FrozenSet, Iterable, List, Optional, Tuple, Union

import pandas as pd

from .._codes import MARKET_NAMES
from .._messages import (
    PROTO_BUYBACKS,
    PROTO_GLOBAL_STATE,
    PROTO_INIT_CONNECT,
    PROTO_KEEP_ALIVE,
    PROTO_STATIC_INFO,
    PROTO_TRADE_DATE,
    request_class,
    response_class,
)
from .._schema import SCHEMA_BY_MARKET
from .._sources import simulator_source, simulator_status
from .._wire import FrameError, FrameReader, decode_body, encode_body, encode_frame
from ._calendar import trading_days
from ._crypto import ALGO_AES_CBC, ALGO_NONE, PACKET_ALGOS, CryptoError, PacketCipher, RsaKey
from ._dataset import Dataset, page_rows, record_problem, record_to_item
from ._market import Change, SyntheticMarket
from ._universe import Listing, as_listings, served, static_info_reply

log = logging.getLogger("futu_buybacks.simulator")

#: What :meth:`Simulator.inject` can make the server do to a request.
PROGRAM_STATUS_READY = 10  # Common.ProgramStatusType_Ready
FAULTS = ("error", "delay", "drop", "garbage", "bad_sha1", "silence", "frequency")
FREQUENCY_MESSAGE = "请求频率太高，请稍后再试 (request frequency limit exceeded: 30 per 30 seconds)"
#: OpenD releases that first answered protocol 3235 (the SDK release 10.6 came with it).
SERVER_VERSION = 1006
#: Protocol 3219: Qot_Common.TradeDateMarket and Qot_Common.QotMarket -> the calendar served.
TRADE_DATE_MARKETS = {1: "HK", 3: "CN"}
SECURITY_CALENDARS = {1: "HK", 21: "CN", 22: "CN"}
MARKET_UTC_OFFSET = 8 * 3600  # HK and the mainland: midnight there is 16:00 UTC the day before
#: The account every connection is logged in as (InitConnect's ``loginUserID``).
LOGIN_USER_ID = 10_000_001
#: Where a world starts when no ``session=`` is given: the first session after this share of its sessions.
WORLD_START = 0.6


@dataclass
class Fault:
    kind: str
    proto_id: Optional[int] = PROTO_BUYBACKS
    delay: float = 0.0
    message: str = "simulated server error"


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server.simulator._serve_connection(self.request)  # type: ignore[attr-defined]


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Simulator:
    """An offline OpenD for tests, demos and notebooks.

    >>> with Simulator() as sim:                     # port 0: the OS picks a free port
    ...     ctx = OpenQuoteContext(host=sim.host, port=sim.port)

    ``rate_limit=(30, 30.0)`` refuses requests to 3235 beyond 30 in any 30 s, as OpenD does;
    ``buybacks=False`` plays an OpenD too old to know protocol 3235.
    ``name`` is what it announces itself as (GetGlobalState), which keeps its records apart from
    any OpenD's in a loader's cache: by default the dataset's name ("sample", the file's stem).
    ``rsa_key`` (PEM text of the SDK's key file) turns on encryption for clients that ask for
    it: RSA for InitConnect, then AES-CBC, or FTAES-ECB with ``packet_algo="ftaes_ecb"``.
    ``universe``: the securities it lists on protocol 3202 (``get_stock_basicinfo``), as
    :class:`Listing` or plain codes (listed stocks); None: ``synthetic_universe()``, about 8,200
    HK and A-share stocks and ETFs.  Every code of the dataset is listed too.  A listed code
    without records answers 3235 with an empty page; a code neither listed nor in the dataset is
    an unknown stock.

    ``world``: a :class:`SyntheticMarket` to serve instead of a dataset: what it knows at the
    end of ``session`` (a date; by default the first session after 60% of its sessions), then,
    after each :meth:`advance`, at the end of the next session.  It lists the world's codes
    (unless given a ``universe``) and announces the world's name at every session: one source.
    """

    def __init__(self, dataset: Optional[Dataset] = None, host: str = "127.0.0.1", port: int = 0, *,
                 rate_limit: Optional[Tuple[int, float]] = None, buybacks: bool = True,
                 server_version: int = SERVER_VERSION, clock: Callable[[], float] = time.monotonic,
                 cache_replies: bool = False, rsa_key: Optional[str] = None, packet_algo: str = "auto",
                 name: Optional[str] = None, universe: Optional[Iterable[Union[Listing, str]]] = None,
                 world: Optional[SyntheticMarket] = None, session: object = None):
        if packet_algo not in PACKET_ALGOS:
            raise ValueError(f"packet_algo must be one of {PACKET_ALGOS}, got {packet_algo!r}")
        self._rsa = RsaKey(rsa_key) if rsa_key is not None else None
        self.packet_algo = packet_algo
        self.world = world
        self._sessions: Optional[pd.DatetimeIndex] = None  # the world's, and where it is in them
        self._at = -1
        if world is not None:
            if dataset is not None:
                raise ValueError("give a dataset or a world, not both")
            self._sessions = world.sessions()
            self._at = _start_session(self._sessions, session)
            dataset = world.dataset(self._sessions[self._at])
            if universe is None:
                universe = world.codes
        elif session is not None:
            raise ValueError("session= is where a world starts: give world= too")
        self.dataset = dataset if dataset is not None else Dataset.sample()
        self.name = name if name is not None else self.dataset.name
        self._universe = None if universe is None else as_listings(universe)
        self._listed: Optional[FrozenSet[str]] = None  # its codes, made on first need
        self.rate_limit = rate_limit
        self.buybacks = buybacks
        self.server_version = server_version
        # Benchmarks: encode each page once, so the server's own cost stays out of the measurement.
        self._reply_cache: Optional[Dict[Tuple[bytes, int], bytes]] = {} if cache_replies else None
        self._address = (host, port)
        self._clock = clock
        self._server: Optional[_TCPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._advancing = threading.Lock()  # one advance at a time
        self._faults: Deque[Fault] = collections.deque()
        self._chaos: Dict[str, float] = {}
        self._random = random.Random(0)
        self._window: Deque[float] = collections.deque()
        self._conn_ids = itertools.count(1)
        self._sockets: List[socket.socket] = []
        self.requests: collections.Counter = collections.Counter()  # proto id -> requests received
        self.formats: collections.Counter = collections.Counter()   # body format -> requests received
        self.refused = 0  # requests to 3235 refused for frequency
        self.encrypted = 0  # requests that arrived encrypted (RSA or AES)
        self.faults: collections.Counter = collections.Counter()  # fault kind -> times it happened

    @property
    def universe(self) -> Tuple[Listing, ...]:
        """What it lists on protocol 3202 now: the universe and every code of the dataset."""
        return served(self._universe, self.dataset.records)

    def _is_listed(self, code: str) -> bool:
        if self._listed is None:
            self._listed = frozenset(entry.code for entry in served(self._universe, ()))
        return code in self._listed

    # ---- a world, session by session --------------------------------------------------------
    @property
    def session(self) -> Optional[pd.Timestamp]:
        """The world's current session: it serves what the world knew at its end (None: no world)."""
        return None if self._sessions is None else self._sessions[self._at]

    def advance(self, sessions: int = 1) -> List[Change]:
        """Move the world on by ``sessions`` sessions; what became known on them, in order.

        Only the codes with changes get new records; a request being answered meanwhile is
        answered from the records before or after, never a mix.  As at OpenD, a code's paging
        continued across an advance may repeat a record (its offsets moved).  Past the world's
        last session is a ``ValueError``, and nothing moves.
        """
        if self.world is None or self._sessions is None:
            raise ValueError("this simulator serves a dataset, not a world: Simulator(world=SyntheticMarket(...))")
        if isinstance(sessions, bool) or not isinstance(sessions, int) or sessions < 1:
            raise ValueError(f"sessions must be an int >= 1, got {sessions!r}")
        with self._advancing:
            left = len(self._sessions) - 1 - self._at
            if sessions > left:
                raise ValueError(f"cannot advance {sessions} session{'s' if sessions > 1 else ''} from "
                                 f"{self.session.date()}: the world ends on {self._sessions[-1].date()}, "
                                 f"{left} session{'' if left == 1 else 's'} on")
            target = self._at + sessions
            days = self._sessions[self._at + 1:target + 1]
            changes = [change for day in days for change in self.world.changes(day)]
            records = {code: self.world.records(code, days[-1]) for code in {change.code for change in changes}}
            with self._lock:
                self.dataset.records.update(records)
                self._at = target
                if self._reply_cache is not None:
                    self._reply_cache.clear()
        return changes

    @property
    def source(self) -> str:
        """The source key a loader's cache files this simulator's records under."""
        return simulator_source(self.name)

    # ---- life cycle -------------------------------------------------------------------------
    def start(self) -> "Simulator":
        server = _TCPServer(self._address, _Handler)
        server.simulator = self  # type: ignore[attr-defined]
        self._server = server
        self._address = server.server_address[:2]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="futu-buybacks-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every client connection (the port can be reused)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for sock in self._sockets:
                _close(sock)
            self._sockets.clear()
        self._server = None

    def __enter__(self) -> "Simulator":
        return self.start() if self._server is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return self._address[0]

    @property
    def port(self) -> int:
        return self._address[1]

    # ---- misbehaviour -----------------------------------------------------------------------
    def inject(self, kind: str, times: int = 1, proto_id: Optional[int] = PROTO_BUYBACKS,
               delay: float = 0.0, message: str = "simulated server error") -> None:
        """Misbehave on the next ``times`` requests of ``proto_id`` (None: any protocol).

        ``error``: error reply with ``message``; ``delay``: answer after ``delay`` seconds;
        ``drop``: close the connection; ``garbage``: a body that is not a valid reply;
        ``bad_sha1``: a valid reply with a wrong SHA1; ``silence``: never answer;
        ``frequency``: refuse as OpenD does past its rate limit.
        """
        if kind not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}, got {kind!r}")
        with self._lock:
            self._faults.extend(Fault(kind, proto_id, delay, message) for _ in range(times))

    def chaos(self, seed: int = 0, **rates: float) -> None:
        """Misbehave at random on requests to 3235, e.g. ``chaos(frequency=0.1, drop=0.02)``."""
        unknown = set(rates) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; choose from {FAULTS}")
        with self._lock:
            self._chaos = dict(rates)
            self._random = random.Random(seed)

    def _next_fault(self, proto_id: int) -> Optional[Fault]:
        with self._lock:
            for fault in self._faults:
                if fault.proto_id in (None, proto_id):
                    self._faults.remove(fault)
                    return fault
            if proto_id == PROTO_BUYBACKS:
                for kind, rate in self._chaos.items():
                    if self._random.random() < rate:
                        return Fault(kind)
        return None

    def _over_rate_limit(self) -> bool:
        if self.rate_limit is None:
            return False
        limit, window = self.rate_limit
        now = self._clock()
        with self._lock:
            while self._window and now - self._window[0] >= window:
                self._window.popleft()
            if len(self._window) >= limit:
                return True
            self._window.append(now)
            return False

    # ---- serving ----------------------------------------------------------------------------
    def _serve_connection(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
        state: Dict[str, Any] = {"conn_id": next(self._conn_ids), "cipher": None}
        reader = FrameReader()
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                for frame in reader.feed(data):
                    if not self._answer(sock, state, frame):
                        return
        except (FrameError, CryptoError) as exc:
            log.warning("closing connection: %s", exc)
        except OSError:
            pass
        finally:
            _close(sock)
            with self._lock:
                if sock in self._sockets:
                    self._sockets.remove(sock)

    def _answer(self, sock: socket.socket, state: Dict[str, Any], frame: Any) -> bool:
        """Reply to one frame; False when the connection must close."""
        frame = self._open(state, frame)
        with self._lock:
            self.requests[frame.proto_id] += 1
            self.formats[frame.fmt] += 1
        fault = self._next_fault(frame.proto_id)
        if fault is not None:
            with self._lock:
                self.faults[fault.kind] += 1
            if fault.kind == "drop":
                return False
            if fault.kind == "silence":
                return True
            if fault.kind == "delay":
                time.sleep(fault.delay)
        if frame.proto_id == PROTO_BUYBACKS and self.buybacks and self._over_rate_limit():
            fault = Fault("frequency")
        if fault is not None and fault.kind == "garbage":
            body = b"\xff\xff\xff\xff not a protobuf message"
        elif fault is not None and fault.kind in ("error", "frequency"):
            message = FREQUENCY_MESSAGE if fault.kind == "frequency" else fault.message
            if fault.kind == "frequency":
                with self._lock:
                    self.refused += 1
            body = encode_body(frame.fmt, _error(frame.proto_id, message))
        else:
            body = self._reply_body(state, frame)
        sha1 = b"\x00" * 20 if fault is not None and fault.kind == "bad_sha1" else hashlib.sha1(body).digest()
        sock.sendall(encode_frame(frame.proto_id, frame.fmt, frame.serial, self._seal(state, frame, body), sha1))
        if frame.proto_id == PROTO_INIT_CONNECT and state.get("next_cipher"):
            state["cipher"] = state.pop("next_cipher")  # every later packet is AES
        return True

    def reply_to(self, packet: bytes) -> bytes:
        """The reply body to one request packet (header and body, as an SDK packs it), in the
        request's format, answered in process: what a connection would be sent, without the
        socket, encryption, faults or rate limit.  For benchmarks that drive an SDK context
        through it instead of TCP (benchmarks/run.py, ``bench_refresh``)."""
        (frame,) = FrameReader().feed(packet)
        with self._lock:
            self.requests[frame.proto_id] += 1
            self.formats[frame.fmt] += 1
        return encode_body(frame.fmt, self._reply({"conn_id": 0, "cipher": None}, frame))

    # ---- encryption -------------------------------------------------------------------------
    def _open(self, state: Dict[str, Any], frame: Any) -> Any:
        """The frame with its body decrypted (RSA for InitConnect, AES after it)."""
        if frame.proto_id == PROTO_INIT_CONNECT and self._rsa is not None:
            try:
                body = self._rsa.decrypt(frame.body)
            except CryptoError:
                return frame  # a client without the key file: plain InitConnect
            state["rsa"] = True
        elif frame.proto_id != PROTO_INIT_CONNECT and state["cipher"] is not None:
            body = state["cipher"].decrypt(frame.body)
        else:
            return frame
        with self._lock:
            self.encrypted += 1
        return frame._replace(body=body)

    def _seal(self, state: Dict[str, Any], frame: Any, body: bytes) -> bytes:
        if frame.proto_id == PROTO_INIT_CONNECT:
            return self._rsa.encrypt(body) if state.get("next_cipher") else body  # type: ignore[union-attr]
        return state["cipher"].encrypt(body) if state["cipher"] is not None else body

    def _reply_body(self, state: Dict[str, Any], frame: Any) -> bytes:
        if self._reply_cache is None or frame.proto_id != PROTO_BUYBACKS:
            return encode_body(frame.fmt, self._reply(state, frame))
        key = (frame.body, frame.fmt)
        body = self._reply_cache.get(key)
        if body is None:
            body = self._reply_cache[key] = encode_body(frame.fmt, self._reply(state, frame))
        return body

    def _reply(self, state: Dict[str, Any], frame: Any) -> Any:
        handlers = {PROTO_INIT_CONNECT: self._init_connect, PROTO_GLOBAL_STATE: self._global_state,
                    PROTO_KEEP_ALIVE: self._keep_alive, PROTO_TRADE_DATE: self._trade_dates,
                    PROTO_STATIC_INFO: lambda state, request: static_info_reply(self.universe, request.c2s)}
        if self.buybacks:
            handlers[PROTO_BUYBACKS] = self._buybacks
        handler = handlers.get(frame.proto_id)
        if handler is None:
            return _error(frame.proto_id, f"unknown protocol {frame.proto_id}")
        try:
            request = decode_body(frame.fmt, frame.body, request_class(frame.proto_id))
        except Exception as exc:
            return _error(frame.proto_id, f"invalid request body: {exc}")
        return handler(state, request)

    def _init_connect(self, state: Dict[str, Any], request: Any) -> Any:
        algo = request.c2s.packetEncAlgo if request.c2s.HasField("packetEncAlgo") else ALGO_NONE
        if algo != ALGO_NONE and not state.get("rsa"):
            message = ("the client asked for an encrypted link but its InitConnect was not encrypted "
                       "with this simulator's RSA key" if self._rsa is not None else
                       "the client asked for an encrypted link; start the simulator with an RSA key (--rsa-key)")
            return _error(PROTO_INIT_CONNECT, message)
        cbc = algo == ALGO_AES_CBC and self.packet_algo == "auto"
        cipher = PacketCipher.new(cbc) if algo != ALGO_NONE else None
        reply = _ok(PROTO_INIT_CONNECT)
        s2c = reply.s2c
        s2c.serverVer = self.server_version
        s2c.loginUserID = LOGIN_USER_ID
        s2c.connID = state["conn_id"]
        s2c.connAESKey = cipher.key if cipher is not None else secrets.token_hex(8)
        if cipher is not None and cipher.iv is not None:
            s2c.aesCBCiv = cipher.iv
        s2c.keepAliveInterval = 10
        state["next_cipher"] = cipher
        return reply

    def _global_state(self, state: Dict[str, Any], request: Any) -> Any:
        reply = _ok(PROTO_GLOBAL_STATE)
        s2c = reply.s2c
        s2c.marketHK = s2c.marketUS = s2c.marketSH = s2c.marketSZ = s2c.marketHKFuture = 0
        s2c.qotLogined = s2c.trdLogined = True
        s2c.serverVer = self.server_version
        s2c.serverBuildNo = 1
        s2c.time = int(time.time())
        s2c.connID = state["conn_id"]
        # What tells a loader's cache this is the simulator and which dataset (``_sources.py``).
        s2c.programStatus.type = PROGRAM_STATUS_READY
        s2c.programStatus.strExtDesc = simulator_status(self.name)
        return reply

    def _keep_alive(self, state: Dict[str, Any], request: Any) -> Any:
        reply = _ok(PROTO_KEEP_ALIVE)
        reply.s2c.time = int(time.time())
        return reply

    def _trade_dates(self, state: Dict[str, Any], request: Any) -> Any:
        c2s = request.c2s
        if c2s.HasField("security"):  # as OpenD: the security's market wins over ``market``
            market = SECURITY_CALENDARS.get(c2s.security.market)
            if market is None:
                return _error(PROTO_TRADE_DATE, f"the simulator has the trading days of HK, SH and SZ "
                                                f"securities only, not of market {c2s.security.market}")
        else:
            market = TRADE_DATE_MARKETS.get(c2s.market)
            if market is None:
                return _error(PROTO_TRADE_DATE, f"the simulator has the trading days of markets HK (1) and "
                                                f"CN (3) only, not of market {c2s.market}")
        try:
            begin, end = _trade_date(c2s.beginTime, "beginTime"), _trade_date(c2s.endTime, "endTime")
        except ValueError as exc:
            return _error(PROTO_TRADE_DATE, str(exc))
        if begin > end:
            return _error(PROTO_TRADE_DATE, f"beginTime {begin} is after endTime {end}")
        days = trading_days()[market]
        if not days.covers(begin, end):
            return _error(PROTO_TRADE_DATE, f"the simulator knows the {market} trading days from {days.first} to "
                                            f"{days.last}, asked for {begin} to {end}")
        reply = _ok(PROTO_TRADE_DATE)
        items = reply.s2c.tradeDateList
        for day, kind in days.sessions(begin, end):
            item = items.add()
            item.time = day.isoformat()
            item.timestamp = calendar.timegm(day.timetuple()) - MARKET_UTC_OFFSET
            item.tradeDateType = kind
        return reply

    def _buybacks(self, state: Dict[str, Any], request: Any) -> Any:
        c2s = request.c2s
        market = MARKET_NAMES.get(c2s.security.market)
        if market is None:
            return _error(PROTO_BUYBACKS, "buyback data is only available for HK and A-share securities")
        code = f"{market}.{c2s.security.code}"
        num = c2s.num if c2s.HasField("num") else 10
        if not 1 <= num <= 50:
            return _error(PROTO_BUYBACKS, f"num out of range (1~50): {num}")
        with self._lock:  # the code's records of one session (advance() replaces them whole)
            rows = self.dataset.records.get(code)
        if rows is None and not self._is_listed(code):
            return _error(PROTO_BUYBACKS, f"unknown stock {code}")
        every = rows or []  # a listed code without records has none: what most codes of a market answer
        try:
            rows, next_key = page_rows(every, c2s.nextKey if c2s.HasField("nextKey") else None, num)
        except ValueError as exc:
            return _error(PROTO_BUYBACKS, str(exc))
        reply = _ok(PROTO_BUYBACKS)
        items = getattr(reply.s2c, SCHEMA_BY_MARKET[market].list_field)
        for row in rows:
            try:
                record_to_item(row, items.add())
            except (TypeError, ValueError) as exc:  # a record changed in code after the dataset was made
                number = every.index(row) + 1
                return _error(PROTO_BUYBACKS, f"simulator dataset: {code} record {number}: "
                                              f"{record_problem(code, row) or exc}")
        reply.s2c.nextKey = next_key
        return reply


def _start_session(sessions: pd.DatetimeIndex, session: object) -> int:
    """Where a world starts: the last session on or before ``session``, or by default the first
    session after :data:`WORLD_START` of them; a day outside the world is a ``ValueError``."""
    if session is None:
        return min(int(len(sessions) * WORLD_START), len(sessions) - 1)
    day = pd.Timestamp(session).normalize()
    if not sessions[0] <= day <= sessions[-1]:
        raise ValueError(f"session {day.date()} is outside the world's sessions, {sessions[0].date()} to "
                         f"{sessions[-1].date()}")
    return int(sessions.searchsorted(day, side="right")) - 1


def _trade_date(text: str, field: str) -> dt.date:
    """``"yyyy-MM-dd"``, or ``"yyyy-MM-dd HH:mm:ss"`` as the SDKs send it: the date."""
    for form in ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S"):
        try:
            return dt.datetime.strptime(text, form).date()
        except ValueError:
            pass
    raise ValueError(f"{field} must be a date yyyy-MM-dd, got {text!r}")


def _ok(proto_id: int) -> Any:
    reply = response_class(proto_id)()
    reply.retType = 0
    return reply


def _error(proto_id: int, message: str) -> Any:
    # Every OpenD Response shares fields 1..3 (retType, retMsg, errCode); the 3235 class serves
    # to encode an error for any protocol, including ones we do not know.
    reply = response_class(PROTO_BUYBACKS)()
    reply.retType = -1
    reply.retMsg = message
    return reply


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
