"""Decoder of the binary update frame (docs/PROTOCOL.md, "Additions: binary
update frames"), written from the byte layout alone so that the python test
checks the layout, not a port of the Rust or JavaScript code.

Unsigned LEB128 varints, zig-zag signed values, times wrapping in 64 bits.
Bad input raises FrameError with the reason.
"""

MAGIC = b"PX"
VERSION = 1


class FrameError(ValueError):
    pass


def _wrap(v):
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


def decode(data):
    """Returns (width, height, updates); each update a dict like the JSON
    form without `by` (a removal: seq, x, y, color 0)."""
    data = bytes(data)
    pos = 0

    def byte(what):
        nonlocal pos
        if pos >= len(data):
            raise FrameError(f"truncated: {what} missing")
        b = data[pos]
        pos += 1
        return b

    def varint(what):
        v = 0
        for shift in range(0, 70, 7):
            b = byte(what)
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                if v >= 1 << 64:
                    raise FrameError(f"varint for {what} overflows 64 bits")
                return v
        raise FrameError(f"varint for {what} is too long")

    def zigzag(what):
        v = varint(what)
        return (v >> 1) ^ -(v & 1)

    if data[:2] != MAGIC:
        raise FrameError("bad magic")
    pos = 2
    version = byte("version")
    if version != VERSION:
        raise FrameError(f"version {version}")
    width, height = varint("width"), varint("height")
    if width == 0 or height == 0 or width * height > 1 << 32:
        raise FrameError(f"geometry {width}x{height}")
    first_seq, count = varint("first_seq"), varint("count")
    prev = zigzag("base_time")
    ttl = zigzag("ttl")
    updates = []
    for i in range(count):
        cell = varint("cell")
        if cell >= width * height:
            raise FrameError(f"cell {cell} off the board")
        color = byte("color")
        u = {"seq": first_seq + i, "x": cell % width, "y": cell // width, "color": color}
        if color:
            placed = _wrap(prev + zigzag("time_delta"))
            u["placed_at"] = placed
            u["expires_at"] = _wrap(placed + ttl + zigzag("ttl_delta"))
            prev = placed
        updates.append(u)
    if pos != len(data):
        raise FrameError(f"{len(data) - pos} trailing bytes")
    return width, height, updates
