"""systemd's notify protocol, so the unit `edge-fer service install` writes can tell a run
that works from one that hangs: READY=1 once frames flow, WATCHDOG=1 while they keep flowing
through the whole pipeline (or it waits on a source being reopened; never while it is stuck
on a frame), STOPPING=1 at the end. Without $NOTIFY_SOCKET (not under
systemd) every call does nothing."""

from __future__ import annotations

import os
import socket
import time


def notify(state: str) -> bool:
    """Send `state` (e.g. "READY=1") to systemd; False when not under systemd or it failed."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or address[0] not in "/@":
        return False
    if address[0] == "@":  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.setblocking(False)  # a stuck receiver must never stall the pipeline's thread
            s.connect(address)
            s.send(state.encode())
        return True
    except OSError:
        return False


class Watchdog:
    """Pings systemd's watchdog at most twice per WatchdogSec (from $WATCHDOG_USEC), so a
    frame loop can call `ping()` on every frame for free."""

    def __init__(self) -> None:
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 and mine else None
        self._last = float("-inf")

    def ping(self, *_args: object) -> None:
        if self.interval is None:
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            notify("WATCHDOG=1")
