"""The live map's answers are built once per tick for every browser at the same version."""
from __future__ import annotations

from dataclasses import replace

from services.layers import LayerData
from services.live_payloads import LivePayloads
from services.snapshot import LayerState, LiveSnapshot


def _feature(fid: str, value: float) -> dict:
    return {"type": "Feature", "id": fid, "geometry": {"type": "Point", "coordinates": [24.94, 60.17]},
            "properties": {"id": fid, "value": value, "level": "ok", "t": 1, "name": fid}}


class _Counting:
    """A published snapshot (immutable) seen through a proxy that counts its payload builds."""

    def __init__(self, snapshot: LiveSnapshot):
        self._snapshot = snapshot
        self.payload_calls = 0

    def __getattr__(self, name):
        return getattr(self._snapshot, name)

    def payload(self, epoch, version):
        self.payload_calls += 1
        return self._snapshot.payload(epoch, version)


class _Snapshots:
    """Stands in for SnapshotService: hands out the snapshot it is given."""

    def __init__(self, snapshot: LiveSnapshot):
        self.snapshot = _Counting(snapshot)

    @property
    def payload_calls(self) -> int:
        return self.snapshot.payload_calls

    def current(self):
        return self.snapshot


def _snapshot_at_version_two() -> LiveSnapshot:
    layer = LayerState("flood", "Flooding", ("value", "level", "t"))
    layer = layer.merged(LayerData([_feature("a", 1.0), _feature("b", 2.0)], None, 120.0), 1)
    layer = layer.merged(LayerData([_feature("a", 1.5), _feature("b", 2.0)], None, 120.0), 2)
    return LiveSnapshot(version=2, layers={"flood": layer})


def test_browsers_one_tick_behind_share_one_delta_built_once():
    snapshots = _Snapshots(_snapshot_at_version_two())
    payloads = LivePayloads(snapshots)
    epoch = snapshots.snapshot.epoch

    answers = [payloads.payload(epoch, 1) for _ in range(100)]

    assert snapshots.payload_calls == 1
    assert all(answer is answers[0] for answer in answers)
    assert answers[0]["full"] is False and answers[0]["version"] == 2
    assert answers[0]["layers"]["flood"]["rows"] == [["a", 1.5, "ok", 1, None]]


def test_new_browsers_of_any_epoch_share_the_full_snapshot_and_a_new_tick_replaces_the_answers():
    snapshots = _Snapshots(_snapshot_at_version_two())
    payloads = LivePayloads(snapshots)

    new_browser = payloads.payload(None, None)
    restarted_server_browser = payloads.payload("another-epoch", 7)
    assert new_browser is restarted_server_browser and new_browser["full"] is True
    assert {feature["id"] for feature in new_browser["layers"]["flood"]["features"]} == {"a", "b"}

    two = snapshots.snapshot
    flood = two.layers["flood"].merged(LayerData([_feature("a", 1.5), _feature("b", 9.0)], None, 120.0), 3)
    snapshots.snapshot = _Counting(replace(two._snapshot, version=3, layers={"flood": flood}))  # the next tick
    after = payloads.payload(two.epoch, 2)
    assert after["version"] == 3 and after["layers"]["flood"]["rows"] == [["b", 9.0, "ok", 1, None]]
    assert two.payload_calls + snapshots.payload_calls == 2
