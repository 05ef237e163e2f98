#!/usr/bin/env python3
"""Sends ClientHello datagrams to a receiver from many loopback source addresses, as a flood of
spoofed handshakes would arrive: every address in 127.0.0.0/8 is this machine's, so each socket
is bound to its own source. Answers (Retry datagrams) are counted, not followed.

    flood.py HOST:PORT SOURCES COUNT

Prints "sent N datagrams (B bytes) from S sources in T s; answered with A bytes".
"""
import os
import socket
import sys
import time

VERSION = 4  # the datagram header's protocol version
CLIENT_HELLO_LEN = 179  # 0x01, handshake version 1, cipher level, X25519 key, zero padding


def client_hello(cid: bytes) -> bytes:
    message = bytes([1, 1, 2]) + os.urandom(32)
    message += bytes(CLIENT_HELLO_LEN - len(message))
    return bytes([1, VERSION]) + cid + message


def main() -> None:
    host, port = sys.argv[1].rsplit(":", 1)
    target = (host, int(port))
    sources, count = int(sys.argv[2]), int(sys.argv[3])
    sockets = []
    for i in range(sources):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((f"127.1.{i // 250}.{i % 250 + 1}", 0))
        s.setblocking(False)
        sockets.append(s)
    datagrams = [client_hello(os.urandom(8)) for _ in range(256)]
    sent = sent_bytes = 0
    start = time.monotonic()
    for n in range(count):
        d = datagrams[n % len(datagrams)]
        try:
            sent_bytes += sockets[n % sources].sendto(d, target)
            sent += 1
        except BlockingIOError:
            pass
    elapsed = time.monotonic() - start
    time.sleep(0.5)
    answered = 0
    for s in sockets:
        while True:
            try:
                answered += len(s.recv(2048))
            except BlockingIOError:
                break
    print(f"sent {sent} datagrams ({sent_bytes} bytes) from {sources} sources in {elapsed:.3f} s; "
          f"answered with {answered} bytes")


if __name__ == "__main__":
    main()
