"""A believable, seeded, time-accelerable city day published over MQTT (SPEC section 4).

Pure model: `CitySimulator(city, seed=, topic_root=, start=)` with `advance(to)` and `command()`.
I/O: `run_simulator()` (aiomqtt), `start_simulator_thread()`, and `main()` for the command line.

Conventions on the wire (FIWARE Smart Data Models, key-values, UTF-8 JSON):
- Timestamps are the sim clock, ISO 8601 UTC with "Z"; TrafficFlowObserved.dateObserved is the
  interval "start/end" of its 60 s counting window.
- WeatherObserved.precipitation is the rain that fell over the last hour, in mm (which equals the
  mean rainfall intensity over that hour in mm/h).
- Units report serviceStatus parked | patrolling | onRoute | onScene | returning (see units.py).
"""
from .common import OutgoingMessage
from .model import CitySimulator
from .runner import main, run_simulator, start_simulator_thread

__all__ = ["CitySimulator", "OutgoingMessage", "main", "run_simulator", "start_simulator_thread"]
