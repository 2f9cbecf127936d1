#!/usr/bin/env python3
"""Write a valid wasip1 core module of about SIZE MiB (a data segment of random bytes) for
the benchmarks: `big-module.py SIZE OUT [--command]`. With --command it imports
`wasi_snapshot_preview1.proc_exit` and exports `_start` and `memory` (a WASI command);
without, it only exports `memory` (a reactor)."""
import os
import sys


def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def section(i, body):
    return bytes([i]) + leb(len(body)) + body


def name(s):
    return leb(len(s)) + s.encode()


size_mib, out = int(sys.argv[1]), sys.argv[2]
command = "--command" in sys.argv[3:]
size = size_mib * 1024 * 1024
pages = size // 65536 + 1
parts = []
if command:
    parts.append(section(1, b"\x02" + b"\x60\x01\x7f\x00" + b"\x60\x00\x00"))
    parts.append(section(2, b"\x01" + name("wasi_snapshot_preview1") + name("proc_exit") + b"\x00\x00"))
    parts.append(section(3, b"\x01\x01"))
parts.append(section(5, b"\x01\x00" + leb(pages)))
exports = [name("memory") + b"\x02\x00"]
if command:
    exports.append(name("_start") + b"\x00\x01")
parts.append(section(7, leb(len(exports)) + b"".join(exports)))
if command:
    body = b"\x00\x41\x00\x10\x00\x0b"
    parts.append(section(10, b"\x01" + leb(len(body)) + body))
data = os.urandom(size)
parts.append(section(11, b"\x01" + b"\x00\x41\x00\x0b" + leb(len(data)) + data))
with open(out, "wb") as f:
    f.write(b"\0asm\x01\0\0\0" + b"".join(parts))
