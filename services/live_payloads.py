"""What each live-map browser is sent, computed once per tick for all browsers at the same place.

A wall of screens polls every second; nearly all of them are one tick behind, so they all need
the same delta. ``LiveSnapshot.payload`` walks every feature of every layer to build it; here it
is built once per (snapshot tick, browser epoch and version) and handed to every browser that
asks for the same, until the next tick replaces the set.
"""
from __future__ import annotations

import threading


class LivePayloads:
    def __init__(self, snapshots):
        self._snapshots = snapshots  # a SnapshotService
        self._lock = threading.Lock()
        self._tick: tuple | None = None
        self._answers: dict = {}

    def payload(self, client_epoch: str | None, client_version: int | None) -> dict:
        snapshot = self._snapshots.current()
        tick = (snapshot.epoch, snapshot.version)
        # a browser of another epoch (new, or from a restarted server) gets the full snapshot
        # whatever version it names: one answer for all of them
        key = (client_epoch, client_version) if client_epoch == snapshot.epoch else None
        with self._lock:
            if self._tick != tick:
                self._tick, self._answers = tick, {}
            answer = self._answers.get(key)
        if answer is None:
            answer = snapshot.payload(client_epoch, client_version)
            with self._lock:
                if self._tick == tick:
                    self._answers[key] = answer
        return answer
