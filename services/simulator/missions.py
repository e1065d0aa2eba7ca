"""The missions a restarted simulator picks up: CityOps's database says which unit serves what.

The simulator keeps its vehicles' missions in memory; after a restart they are gone while the
database still has the units dispatched, en route or on scene. The database is the one place that
knows (a QoS 1 command already delivered is not delivered again), so on start the simulator reads
each unit's current dispatch command (units.command_id, still sent / accepted / arrived) with its
destination, and the unit's last reported position, and carries on from there.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from sqlalchemy import and_, make_url, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from services.models import DeviceLatest, ResponseUnit, UnitCommand

from .units import Mission

log = logging.getLogger("cityops.simulator")
OPEN_STATES = ("sent", "accepted", "arrived")


def missions_from_database(database_url: str) -> list[Mission]:
    """open_missions() of the database at that URL (the simulator's own short-lived engine)."""
    from services.db import make_engine

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not Path(url.database).exists():
        log.info("no database at %s (a simulator on its own): every unit starts at its base", url.database)
        return []  # and none is created by looking
    try:
        engine = make_engine(database_url)
    except (SQLAlchemyError, OSError, ValueError) as error:
        log.warning("cannot open the database (%s); every unit starts at its base", error)
        return []
    try:
        return open_missions(engine)
    finally:
        engine.dispose()


def open_missions(engine: Engine) -> list[Mission]:
    """Every unit's dispatch still in progress, oldest first; [] when the database cannot be read."""
    query = (select(UnitCommand.cmd_id, UnitCommand.unit_id, UnitCommand.incident_id, UnitCommand.state,
                    UnitCommand.payload, DeviceLatest.lon, DeviceLatest.lat)
             .join(ResponseUnit, and_(ResponseUnit.unit_id == UnitCommand.unit_id,
                                      ResponseUnit.command_id == UnitCommand.cmd_id))
             .outerjoin(DeviceLatest, and_(DeviceLatest.device_id == UnitCommand.unit_id,
                                           DeviceLatest.entity_type == "Vehicle"))
             .where(UnitCommand.command == "dispatch", UnitCommand.state.in_(OPEN_STATES))
             .order_by(UnitCommand.issued_at))
    try:
        with engine.connect() as connection:
            rows = connection.execute(query).all()
    except SQLAlchemyError as error:
        log.warning("cannot read the units' missions (%s); every unit starts at its base", error)
        return []
    missions = []
    for row in rows:
        destination = _point(row.payload)
        if destination is None:
            log.warning("dispatch %s of %s has no destination; not resumed", row.cmd_id, row.unit_id)
            continue
        position = (row.lon, row.lat) if row.lon is not None and row.lat is not None else None
        incident_id = str(row.incident_id) if row.incident_id is not None else None
        missions.append(Mission(row.unit_id, row.cmd_id, incident_id, destination, row.state, position))
    return missions


def _point(payload) -> tuple[float, float] | None:
    if isinstance(payload, str):  # SQLite hands JSON columns back as text through a bare select
        try:
            payload = json.loads(payload)
        except ValueError:
            return None
    coordinates = ((payload or {}).get("destination") or {}).get("coordinates") if isinstance(payload, dict) else None
    if isinstance(coordinates, (list, tuple)) and len(coordinates) >= 2:
        try:
            return float(coordinates[0]), float(coordinates[1])
        except (TypeError, ValueError):
            return None
    return None
