"""Tables of the scorecards (services/kpis/): the stored roll-ups, the targets and baselines, and
what the incremental roll-up remembers between its runs.

A roll-up is one KPI's value for one district ("city": the whole city) over one period (hour, day,
week, month, quarter in the site time zone, ``[start, end)`` in UTC). ``published`` is the MQTT
outbox flag: it turns false whenever the value changes and true once the broker took it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.models.base import AUTO_ID, utc_field


class KpiRollup(SQLModel, table=True):
    __tablename__ = "kpi_rollups"
    __table_args__ = (
        UniqueConstraint("kpi", "district", "period", "start", name="uq_kpi_rollup_bucket"),
        Index("ix_kpi_rollups_period_start", "period", "start"),
        Index("ix_kpi_rollups_outbox", "published", "period"),
    )

    id: Optional[int] = Field(default=None, sa_column=Column(AUTO_ID, primary_key=True, autoincrement=True))
    kpi: str = Field(max_length=128)
    district: str = Field(max_length=200)  # a district's name, or "city"
    period: str = Field(max_length=8)  # hour | day | week | month | quarter
    start: datetime = utc_field()
    end: datetime = utc_field()
    value: Optional[float] = None  # None: no data (never 0)
    count: int = 0
    share_meeting: Optional[float] = None
    computed_at: datetime = utc_field()
    published: bool = False


class KpiBehind(SQLModel, table=True):
    """What stands behind a measured roll-up value of a day or longer, for the KPI's detail view: the samples
    of its distribution and its records as ``[kind, id]`` pairs. Kept apart from ``kpi_rollups`` so that the
    cards, trends and combinations never read it; ``digest`` tells whether a new measure changed it. A week,
    month or quarter added up from its days has none: its days' stand behind it."""

    __tablename__ = "kpi_behind"

    rollup_id: int = Field(sa_column=Column(AUTO_ID, ForeignKey("kpi_rollups.id", ondelete="CASCADE"),
                                            primary_key=True, autoincrement=False))
    digest: str = Field(max_length=32)
    samples: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    records: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class KpiDayScan(SQLModel, table=True):
    """What one scan of a complete day's raw rows gave a measure (services/kpis/scans.py): per key (a sensor),
    numbers that add up over days (readings, their sums, congested ones). A week, month or quarter of a KPI
    that does not follow from its day values adds these up instead of reading its raw rows again; a day
    marked dirty for its source is read again. ``scan`` names the scan and the parameters it depends on."""

    __tablename__ = "kpi_day_scans"

    scan: str = Field(primary_key=True, max_length=200)
    start: datetime = utc_field(primary_key=True)
    end: datetime = utc_field()
    rows: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    computed_at: datetime = utc_field()


class KpiTarget(SQLModel, table=True):
    """A KPI's target and baseline for one district (or "city") and year; absent: the catalogue's
    default target and no baseline."""

    __tablename__ = "kpi_targets"
    __table_args__ = (UniqueConstraint("kpi", "district", "year", name="uq_kpi_target"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    kpi: str = Field(max_length=128)
    district: str = Field(max_length=200)
    year: int
    target: Optional[float] = None
    baseline: Optional[float] = None
    baseline_from: Optional[datetime] = utc_field(default=None)  # the baseline period [from, to)
    baseline_to: Optional[datetime] = utc_field(default=None)
    updated_at: datetime = utc_field()
    updated_by: str = Field(max_length=128)


class KpiWatermark(SQLModel, table=True):
    """How far the roll-up has read one source's changes: an id (observations) or a time (the
    updated_at of incidents, work orders, alarms)."""

    __tablename__ = "kpi_watermarks"

    source: str = Field(primary_key=True, max_length=16)
    last_id: Optional[int] = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_at: Optional[datetime] = utc_field(default=None)
    updated_at: datetime = utc_field()


class KpiDirtyBucket(SQLModel, table=True):
    """A past period whose KPIs of ``source`` must be computed again (late or changed records fell in it)."""

    __tablename__ = "kpi_dirty_buckets"

    period: str = Field(primary_key=True, max_length=8)
    start: datetime = utc_field(primary_key=True)
    source: str = Field(primary_key=True, max_length=16)
    end: datetime = utc_field()
    marked_at: datetime = utc_field()
