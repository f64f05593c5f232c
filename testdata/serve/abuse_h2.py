"""Hand-made HTTP/2 for scripts/abuse: what a broken or hostile peer sends.

gRPC clients (python3-grpcio) only send well-formed HTTP/2; the abuse test
also needs half frames, lying length prefixes, streams that never end,
peers that never open their receive window.  This module writes those
bytes itself: frames (RFC 9113 section 4), header blocks as HPACK literals
without indexing or Huffman coding (RFC 7541 section 6.2.2, the simplest
valid encoding), gRPC's 5-byte message prefix.  Only sending is needed
in full; replies are read at the frame level (type, flags, stream).

Also: TrickleProxy, a TCP proxy on 127.0.0.1 for real gRPC clients that
forwards what the client sends in small pieces over seconds (a slow
client), or forwards nothing back (a client that never reads).
"""
import socket
import struct
import threading
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
SETTINGS_INITIAL_WINDOW_SIZE = 0x4


def frame(ftype, flags, stream, payload=b""):
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags, stream & 0x7FFFFFFF) + payload


def settings(pairs=(), ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def _hpack_int(v, prefix_bits, first=0):
    top = (1 << prefix_bits) - 1
    if v < top:
        return bytes([first | v])
    out = bytearray([first | top])
    v -= top
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def hpack_literal(name, value):
    """One header field, literal without indexing, new name, no Huffman."""
    name, value = name.encode(), value.encode()
    return b"\x00" + _hpack_int(len(name), 7) + name + _hpack_int(len(value), 7) + value


def grpc_headers(path, authority="127.0.0.1", extra=()):
    return b"".join(hpack_literal(k, v) for k, v in
                    [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", authority),
                     ("content-type", "application/grpc"), ("te", "trailers")] + list(extra))


def grpc_message(payload, declared=None, compressed=False):
    """gRPC's length-prefixed message; declared overrides the length (a lie)."""
    n = len(payload) if declared is None else declared
    return struct.pack(">BI", 1 if compressed else 0, n) + payload


def data_frames(stream, body, end=True, max_frame=16384):
    """body as DATA frames no larger than the peer's default SETTINGS_MAX_FRAME_SIZE."""
    out = [frame(DATA, 0, stream, body[i:i + max_frame]) for i in range(0, len(body), max_frame)]
    if end:
        out.append(frame(DATA, END_STREAM, stream))
    return b"".join(out)


def request_stream(stream, path, payload, end=True, declared=None):
    """HEADERS + DATA for one unary call on stream."""
    return frame(HEADERS, END_HEADERS, stream, grpc_headers(path)) + \
        data_frames(stream, grpc_message(payload, declared), end)


def connect(addr, timeout=5.0):
    """addr: ("127.0.0.1", port), ("::1", port) or a unix socket path."""
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        s = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(addr)
    return s


def abort(s):
    """Close with a TCP RST (SO_LINGER 0) where it applies, else plainly."""
    try:
        if s.family != socket.AF_UNIX:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def read_frames(s, seconds, until=None):
    """Frames the peer sends within seconds (or until until(frames) is true or
    the peer closes): [(type, flags, stream, payload)], and whether it closed."""
    buf, out, closed = b"", [], False
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0 or (until and until(out)):
            break
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        buf += chunk
        while len(buf) >= 9:
            hi, lo, ftype, flags, stream = struct.unpack(">BHBBI", buf[:9])
            n = hi << 16 | lo
            if len(buf) < 9 + n:
                break
            out.append((ftype, flags, stream & 0x7FFFFFFF, buf[9:9 + n]))
            buf = buf[9 + n:]
    return out, closed


def pump(s, stream, nbytes, seconds):
    """Send nbytes of DATA on stream as fast as the peer's flow-control
    windows allow (the SETTINGS exchange must be done).  Stops early when
    the peer ends the stream or the connection.  Returns (bytes sent,
    [(type, flags, stream, payload)] of the frames that stopped it), the
    frames empty when everything went or the time ran out."""
    conn_win = stream_win = 65535
    sent, chunk, end = 0, bytes(16384), time.monotonic() + seconds
    s.setblocking(True)
    while sent < nbytes and time.monotonic() < end:
        while conn_win >= len(chunk) and stream_win >= len(chunk) and sent < nbytes:
            s.sendall(frame(DATA, 0, stream, chunk))
            sent += len(chunk)
            conn_win -= len(chunk)
            stream_win -= len(chunk)
        frames, closed = read_frames(s, max(0.0, end - time.monotonic()), lambda fr: fr)
        for ftype, flags, st, payload in frames:
            if ftype == WINDOW_UPDATE and len(payload) == 4:
                inc = struct.unpack(">I", payload)[0] & 0x7FFFFFFF
                if st == 0:
                    conn_win += inc
                elif st == stream:
                    stream_win += inc
            elif ftype == SETTINGS and not flags & ACK:
                for i in range(0, len(payload) - 5, 6):
                    k, v = struct.unpack(">HI", payload[i:i + 6])
                    if k == SETTINGS_INITIAL_WINDOW_SIZE:
                        stream_win += v - 65535
        stop = [f for f in frames if f[0] == GOAWAY or (f[2] == stream and f[0] in (HEADERS, RST_STREAM))]
        if stop or closed:
            return sent, stop or [(GOAWAY, 0, 0, b"closed")]
    return sent, []


class TrickleProxy:
    """127.0.0.1:port -> target.  mode "trickle": client bytes go on in
    pieces of `piece` bytes every `delay` seconds; mode "stall": client
    bytes go on at once, the server's bytes are never passed back (nor
    read past the socket buffers), so the client never opens its window.
    close() ends every connection it made."""

    def __init__(self, target, mode, piece=4096, delay=0.1):
        self.target, self.mode, self.piece, self.delay = target, mode, piece, delay
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(128)
        self.port = self.ls.getsockname()[1]
        self.socks, self.lock, self.done = [], threading.Lock(), threading.Event()
        self.bytes_up = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.done.is_set():
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                u = connect(self.target)
            except OSError:
                c.close()
                continue
            u.settimeout(None)
            c.settimeout(None)
            with self.lock:
                self.socks += [c, u]
            threading.Thread(target=self._up, args=(c, u), daemon=True).start()
            if self.mode != "stall":
                threading.Thread(target=self._down, args=(u, c), daemon=True).start()

    def _up(self, c, u):
        try:
            while not self.done.is_set():
                data = c.recv(65536)
                if not data:
                    break
                if self.mode == "trickle":
                    for i in range(0, len(data), self.piece):
                        u.sendall(data[i:i + self.piece])
                        self.bytes_up += len(data[i:i + self.piece])
                        if self.done.wait(self.delay):
                            return
                else:
                    u.sendall(data)
                    self.bytes_up += len(data)
        except OSError:
            pass

    def _down(self, u, c):
        try:
            while not self.done.is_set():
                data = u.recv(65536)
                if not data:
                    break
                c.sendall(data)
        except OSError:
            pass

    def close(self):
        self.done.set()
        self.ls.close()
        with self.lock:
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.socks = []
