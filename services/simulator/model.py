"""CitySimulator: the whole city day as a pure model. No I/O; time only moves when advance() is called.

The internal clock moves in fixed steps (5 s), so the messages depend only on the seed, the start
and the times advanced to: advancing to T in one call or in many gives byte-identical output.
Each device reports every interval_s (from sites.json) at its own seeded phase.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from services.city import City

from .air import AirQuality, SilenceSchedule
from .drills import Drill, DrillPlayer, drill_named
from .common import DEFAULT_INTERVAL_S, OutgoingMessage, child_rng, device_kind, message
from .misbehaviour import Misbehaviour
from .reports import CitizenReports
from .roads import RoadNetwork
from .traffic import Traffic
from .units import Fleet, Mission
from .water import WaterNetwork, WaterStation
from .weather import Atmosphere, StormSchedule, weather_observed

STEP_S = 5


@dataclass(frozen=True)
class Reporter:
    """Something that reports on a schedule: a device or a unit."""

    ident: str
    kind: str  # traffic | air | weather | flood | water | unit
    every_steps: int
    phase_steps: int

    def due(self, step: int) -> bool:
        return step % self.every_steps == self.phase_steps


class CitySimulator:
    def __init__(self, city: City, *, seed: int = 42, topic_root: str = "city", start: datetime):
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware (UTC)")
        self.city = city
        self.seed = seed
        self.topic_root = topic_root.strip("/")
        self.start = start.astimezone(timezone.utc).replace(microsecond=0)
        self._step = 0  # the next step to run; step k happens at start + k * STEP_S
        self._noise = child_rng(seed, "sensor-noise")
        tz = ZoneInfo(city.timezone)
        lat = (city.bbox[1] + city.bbox[3]) / 2

        self.devices = {d["device_id"]: d for d in city.devices if device_kind(d)}
        by_kind = lambda kind: [d for d in self.devices.values() if device_kind(d) == kind]  # noqa: E731
        self.roads = RoadNetwork(city)
        self.storms = StormSchedule(child_rng(seed, "storms"), self.start, city.bbox)
        self.atmosphere = Atmosphere(child_rng(seed, "atmosphere"), self.storms, tz, lat)
        self.traffic = Traffic(by_kind("traffic"), self.roads, self.storms, tz, child_rng(seed, "incidents"), self.start)
        self.air = AirQuality(by_kind("air"), self.traffic, self.storms, self.atmosphere,
                              child_rng(seed, "air"), self.start)
        water_rng = child_rng(seed, "water")
        self.water = WaterNetwork([WaterStation.from_device(d, device_kind(d), water_rng)
                                   for d in by_kind("flood") + by_kind("water")], self.storms)
        self.fleet = Fleet(city, self.roads, self.traffic, seed, self.topic_root, self.start)
        self.reports = CitizenReports(self.roads, self.storms, city.name, seed, self.start)
        self.misbehaviour = Misbehaviour.choose(child_rng(seed, "misbehaviour"), self.devices)
        self._silence = SilenceSchedule(child_rng(seed, "silence"), self.start)
        self._reporters = self._schedule(child_rng(seed, "phases"))
        self.drills = DrillPlayer(city, self.roads, self.topic_root,
                                  {s.device_id: (s.alert_m, s.danger_m) for s in self.water.stations.values()})

    def _schedule(self, rng: random.Random) -> list[Reporter]:
        reporters = []
        for device_id, device in self.devices.items():
            kind = device_kind(device)
            every = max(1, round(float(device.get("interval_s") or DEFAULT_INTERVAL_S[kind]) / STEP_S))
            reporters.append(Reporter(device_id, kind, every, rng.randrange(every)))
        for unit_id, unit in self.fleet.units.items():
            every = max(1, round(float(unit.spec.get("interval_s") or DEFAULT_INTERVAL_S["unit"]) / STEP_S))
            reporters.append(Reporter(unit_id, "unit", every, rng.randrange(every)))
        return reporters

    # --- public API ------------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        """The time of the last step run (start before the first advance)."""
        return self.start + timedelta(seconds=STEP_S * max(self._step - 1, 0))

    def advance(self, to: datetime) -> list[OutgoingMessage]:
        """Run every step up to and including `to`; return what the city published meanwhile."""
        out: list[OutgoingMessage] = []
        while self.start + timedelta(seconds=STEP_S * self._step) <= to:
            out.extend(self._run_step(self._step))
            self._step += 1
        return out

    def command(self, unit_id: str, cmd) -> list[OutgoingMessage]:
        """A command from CityOps for one unit (SPEC section 4); returns the cmdexe replies.

        A command issued before this simulator started is the city's past being recorded (the demo's
        history, history.py, answers it itself): the live unit ignores it."""
        if self._issued_before_start(cmd):
            return []
        return self.fleet.command(unit_id, cmd, self.now)

    def _issued_before_start(self, cmd) -> bool:
        issued = cmd.get("issuedAt") if isinstance(cmd, dict) else None
        try:
            moment = datetime.fromisoformat(issued.replace("Z", "+00:00")) if isinstance(issued, str) else None
        except ValueError:
            return False
        return moment is not None and moment.replace(tzinfo=moment.tzinfo or timezone.utc) < self.start

    def resume(self, missions: list[Mission]) -> list[OutgoingMessage]:
        """Units carry on the missions the database says they serve (after a restart), from now."""
        out: list[OutgoingMessage] = []
        for mission in missions:
            out.extend(self.fleet.resume(mission, self.now))
        return out

    def start_drill(self, name: str, at: datetime | None = None) -> Drill:
        """Plays the drill from `at` (never before the sim clock); raises UnknownDrill for a wrong name."""
        drill = drill_named(name)
        self.drills.start(drill, max(at or self.now, self.now))
        return drill

    def stop_drill(self) -> None:
        self.drills.stop()

    def past(self, to: datetime, every: timedelta, settle_s: int = 60) -> list[OutgoingMessage]:
        """The coarse past's telemetry (history.py): the weather and the water move on to ``to`` in ``settle_s``
        steps, then every device reports once, at ``to``. Units and drills stay out of it. Call with ``to`` one
        ``every`` after the other."""
        moment = to - every
        while moment < to:
            moment += timedelta(seconds=settle_s)
            self.atmosphere.step(moment, settle_s)
            self.water.step(moment, settle_s)
        return [m for r in self._reporters if r.kind != "unit" for m in self._report(r, to)]

    def past_reports(self, to: datetime) -> list[OutgoingMessage]:
        """The citizens' reports up to ``to`` (history.py): they follow the storms' schedule, not the weather's
        steps, so they can be made ahead of the telemetry. Call with ``to`` one after the other."""
        return [message(f"{self.topic_root}/reports", r) for r in self.reports.due(to)]

    def misbehaving_devices(self) -> dict[str, str]:
        """Which device misbehaves how: {behaviour: device_id}."""
        return self.misbehaviour.as_dict()

    # --- one step ----------------------------------------------------------------------------------
    def _run_step(self, step: int) -> list[OutgoingMessage]:
        moment = self.start + timedelta(seconds=STEP_S * step)
        if step > 0:
            self.atmosphere.step(moment, STEP_S)
            self.water.step(moment, STEP_S)
        out = self.fleet.step(moment, STEP_S) if step > 0 else []
        for reporter in self._reporters:
            if reporter.due(step):
                out.extend(self._report(reporter, moment))
        out.extend(message(f"{self.topic_root}/reports", r) for r in self.reports.due(moment))
        return self.drills.apply(out, moment)

    def _report(self, reporter: Reporter, moment: datetime) -> list[OutgoingMessage]:
        if reporter.kind == "unit":
            unit = self.fleet.units[reporter.ident]
            return [message(f"{self.topic_root}/units/{reporter.ident}/state", self.fleet.state(unit, moment))]
        device = self.devices[reporter.ident]
        oddity = self.misbehaviour.of(reporter.ident)
        if oddity == "silent" and self._silence.is_silent(moment):
            return []
        body = self._observe(reporter, device, moment, oddity)
        return [message(f"{self.topic_root}/telemetry/{reporter.ident}", self.misbehaviour.distort(oddity, body))]

    def _observe(self, reporter: Reporter, device: dict, moment: datetime, oddity: str | None) -> dict:
        rng = self._noise
        if reporter.kind == "traffic":
            segment = self.traffic.segments[reporter.ident]
            return self.traffic.observation(segment, moment, reporter.every_steps * STEP_S, rng,
                                            impossible_speed=oddity == "impossible_speed")
        if reporter.kind == "air":
            return self.air.observation(device, moment, rng)
        if reporter.kind == "weather":
            return weather_observed(device, moment, self.storms, self.atmosphere, rng,
                                    numbers_as_strings=oddity == "numbers_as_strings")
        return self.water.observation(self.water.stations[reporter.ident], moment, rng)
