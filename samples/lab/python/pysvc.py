"""The lab's Python service (scenario `python`): threads parked at known places with known locals.

Threads: the main thread's request loop (blocked in accept), a worker in time.sleep, a reader blocked in
a socket recv, and a nested call chain (level1 -> level2 -> level3) with locals of every simple type,
parked on an Event. On SIGUSR1 it writes what sys._current_frames() shows (function, file, line and the
simple locals of every frame of every thread, keyed by native thread id) to TRUTH, then every thread is
back where it was (the signal only interrupts the main thread's accept, which Python resumes). The
checkpoint is taken after that, so the truth is what a reader of the checkpoint must find.

Standard library only; runs under any CPython >= 3.11.
"""

import json
import os
import signal
import socket
import sys
import threading
import time

TRUTH = "/tmp/pytruth.json"
PORT = 8081
SIMPLE = (int, str, bytes, float, bool, type(None))
CONTAINERS = (list, tuple, dict, set, frozenset)
parked = threading.Event()
never = threading.Event()


def describe(value):
    """What a checkpoint reader is expected to show for a local: repr for simple types, type and length
    for containers, the type name otherwise."""
    kind = type(value)
    if kind in SIMPLE:
        return {"type": kind.__name__, "repr": repr(value)}
    if kind in CONTAINERS:
        return {"type": kind.__name__, "len": len(value)}
    return {"type": kind.__name__}


def frames_of(frame):
    out = []
    while frame is not None:
        code = frame.f_code
        names = code.co_varnames + code.co_cellvars + code.co_freevars
        local_values = frame.f_locals
        out.append({"function": code.co_name, "qualname": code.co_qualname, "file": code.co_filename,
                    "line": frame.f_lineno,
                    "locals": {n: describe(local_values[n]) for n in names if n in local_values}})
        frame = frame.f_back
    return out


def write_truth(signum, interrupted):
    """The stacks as the checkpoint will hold them; the main thread's without this handler's frame."""
    by_ident = {t.ident: t for t in threading.enumerate()}
    threads = []
    for ident, frame in sys._current_frames().items():
        if ident == threading.main_thread().ident:
            frame = interrupted
        t = by_ident.get(ident)
        threads.append({"native_id": t.native_id if t else None, "name": t.name if t else None,
                        "frames": frames_of(frame)})
    doc = {"pid": os.getpid(), "version": list(sys.version_info[:3]), "executable": sys.executable,
           "threads": threads}
    with open(TRUTH + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.rename(TRUTH + ".tmp", TRUTH)


def sleeper():
    naps = 0
    while True:
        naps += 1
        time.sleep(3600)


def reader(sock):
    received = b""
    while True:
        chunk = sock.recv(4096)
        received += chunk


def level3(data, flag):
    nothing = None
    api_token = "tok-5e1f2a9c7b3d4e60"
    ratio_sq = 0.25
    parked.set()
    never.wait()
    return data, flag, nothing, api_token, ratio_sq


def level2(values, ratio):
    label = "level-two"
    big = 2 ** 70 + 12345
    negative = -42
    mapping = {"a": 1, "b": 2}
    return level3(b"\x00\x01payload", True) if values else (label, big, negative, mapping, ratio)


def level1(count, name):
    greeting = "héllo wörld ✓"
    values = [1, 2, 3]
    return level2(values, 0.5) if count else greeting


def serve(srv):
    handled = 0
    while True:
        conn, _ = srv.accept()
        line = conn.makefile("rb").readline()
        handled += 1
        conn.sendall(b"ok %d %s\n" % (handled, line.strip()))
        conn.close()


def main():
    signal.signal(signal.SIGUSR1, write_truth)
    left, right = socket.socketpair()  # noqa: RUF059 - kept alive (and shown) as a local of main()
    threading.Thread(target=sleeper, name="sleeper", daemon=True).start()
    threading.Thread(target=reader, args=(right,), name="reader", daemon=True).start()
    threading.Thread(target=level1, args=(7, "alpha"), name="chain", daemon=True).start()
    parked.wait()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", PORT))
    srv.listen(4)
    print("READY", flush=True)
    serve(srv)


if __name__ == "__main__":
    main()
