"""python-socketio against the server (PIXEL_URL): a watcher that joins
with `encoding: "binary"` receives `pixels` events whose second argument is
the frame (bytes) and decodes it with frame.py; a watcher that never asks
for binary sees exactly today's JSON `pixels`. Both must see the same
updates: consecutive seqs after their join ack, the cells, colours and
times the placements were acked with, and then their removals (decay).

Run: python3 binary_client.py (exit status 0 = passed). Bounded in time.
"""

import json
import os
import sys
import threading
import time
import urllib.request
import uuid

import socketio

import frame

URL = os.environ.get("PIXEL_URL", "http://127.0.0.1:8080")
BOARD = os.environ.get("BOARD", "main")
TTL_MS = int(os.environ.get("TTL_MS", "3000"))
WIDTH = int(os.environ.get("BOARD_WIDTH", "64"))
HEIGHT = int(os.environ.get("BOARD_HEIGHT", "64"))
PLACERS = 6
PLACEMENT_KEYS = {"seq", "x", "y", "color", "placed_at", "expires_at", "by"}
DECAY_KEYS = {"seq", "x", "y", "color"}


def signup():
    body = json.dumps(
        {"email": f"py-{uuid.uuid4().hex}@test.local", "password": "correct-horse-battery"}
    ).encode()
    req = urllib.request.Request(
        URL + "/api/auth/signup", body, {"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201, r.status
        return json.load(r)


class Watcher:
    def __init__(self, binary):
        self.binary = binary
        self.updates = []
        self.events = []
        self.errors = []
        self.lock = threading.Lock()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("pixels", self.on_pixels)

    def on_pixels(self, *args):
        with self.lock:
            self.events.append(args)
            try:
                if self.binary:
                    assert len(args) == 2, f"binary pixels has 2 arguments: {args!r}"
                    header, data = args
                    assert header == {"board": BOARD}, header
                    assert isinstance(data, bytes), type(data)
                    w, h, updates = frame.decode(data)
                    assert (w, h) == (WIDTH, HEIGHT), (w, h)
                else:
                    assert len(args) == 1, f"JSON pixels has 1 argument: {args!r}"
                    (m,) = args
                    assert set(m) == {"board", "updates"} and m["board"] == BOARD, m
                    updates = m["updates"]
                    for u in updates:
                        keys = PLACEMENT_KEYS if u["color"] else DECAY_KEYS
                        assert set(u) == keys, f"today's update shape: {u}"
                self.updates.extend(updates)
            except Exception as e:  # reported by the main thread
                self.errors.append(e)

    def start(self):
        self.sio.connect(URL, transports=["websocket"], wait_timeout=10)
        payload = {"board": BOARD}
        if self.binary:
            payload["encoding"] = "binary"
        ack = self.sio.call("join", payload, timeout=10)
        assert ack["ok"] is True, ack
        self.seq = ack["seq"]
        return self

    def snapshot(self):
        with self.lock:
            if self.errors:
                raise self.errors[0]
            return list(self.updates)


def wait_for(what, pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def check_consecutive(name, start, updates):
    seqs = [u["seq"] for u in updates]
    want = list(range(start + 1, start + 1 + len(seqs)))
    assert seqs == want, f"{name}: seqs not consecutive after {start}: {seqs[:20]}..."


def main():
    binw = Watcher(binary=True).start()
    jsonw = Watcher(binary=False).start()
    placers = []
    acked = []
    try:
        for i in range(PLACERS):
            tokens = signup()
            c = socketio.Client(reconnection=False)
            c.connect(URL, transports=["websocket"], auth={"token": tokens["access_token"]}, wait_timeout=10)
            placers.append(c)
            assert c.call("join", {"board": BOARD}, timeout=10)["ok"] is True
        # Distinct cells spread over the board, colours 1.., one a placer.
        for i, c in enumerate(placers):
            x, y = (7 * i + 3) % WIDTH, (11 * i + 5) % HEIGHT
            ack = c.call("place", {"board": BOARD, "x": x, "y": y, "color": 1 + i}, timeout=10)
            assert ack["ok"] is True, ack
            acked.append(ack["update"])
        last = max(u["seq"] for u in acked)
        for w in (binw, jsonw):
            wait_for(f"{'binary' if w.binary else 'JSON'} watcher up to seq {last}",
                     lambda w=w: any(u["seq"] >= last for u in w.snapshot()), 10)
        # Then the removals of every placed cell (if not overwritten since).
        cells = {(u["x"], u["y"]) for u in acked}

        def removed(w):
            ups = w.snapshot()
            gone = {(u["x"], u["y"]) for u in ups if u["color"] == 0 and u["seq"] > last}
            return cells <= gone

        for w in (binw, jsonw):
            wait_for("the decays", lambda w=w: removed(w), TTL_MS / 1000 + 15)
        b, j = binw.snapshot(), jsonw.snapshot()
        check_consecutive("binary", binw.seq, b)
        check_consecutive("JSON", jsonw.seq, j)
        by_seq = {u["seq"]: u for u in b}
        for u in acked:
            got = by_seq[u["seq"]]
            want = {k: v for k, v in u.items() if k != "by"}
            assert got == want, f"binary update {got} != acked {want}"
        # Over the seqs both saw, the same updates (JSON carries `by` on top).
        lo, hi = max(binw.seq, jsonw.seq), min(b[-1]["seq"], j[-1]["seq"])
        jb = {u["seq"]: {k: v for k, v in u.items() if k != "by"} for u in j}
        common = [u for u in b if lo < u["seq"] <= hi]
        assert common and all(jb[u["seq"]] == u for u in common), "binary and JSON watchers disagree"
        assert all(len(e) == 2 for e in binw.events) and all(len(e) == 1 for e in jsonw.events)
        print(
            f"python-socketio: binary watcher decoded {len(b)} updates in {len(binw.events)} frames, "
            f"JSON watcher {len(j)} updates in {len(jsonw.events)} events; {len(common)} compared, equal"
        )
    finally:
        for c in placers + [binw.sio, jsonw.sio]:
            try:
                c.disconnect()
            except Exception:
                pass


def self_test():
    """The decoder on the fixture the Rust encoder wrote (checked against
    it by pixel-core/tests/frame_fixture.rs), and on broken copies of it."""
    here = os.path.dirname(os.path.abspath(__file__))
    fixtures = os.path.join(here, "..", "..", "web", "test", "fixtures")
    with open(os.path.join(fixtures, "frame-v1.bin"), "rb") as f:
        data = f.read()
    with open(os.path.join(fixtures, "frame-v1.json")) as f:
        want = json.load(f)
    w, h, updates = frame.decode(data)
    assert (w, h, updates) == (want["width"], want["height"], want["updates"]), "fixture"
    for bad in (data[:-1], data + b"\0", b"PY" + data[2:], data[:2] + b"\x02" + data[3:]):
        try:
            frame.decode(bad)
        except frame.FrameError:
            continue
        raise AssertionError(f"decoded a broken frame {bad[:8]!r}")
    print(f"python decoder: fixture of {len(updates)} updates decoded as the Rust encoder wrote it")


if __name__ == "__main__":
    t = threading.Timer(90, lambda: os._exit(2))
    t.daemon = True
    t.start()
    self_test()
    main()
    sys.exit(0)
