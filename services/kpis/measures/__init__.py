"""The KPI measures, one module per dimension; importing this package registers every one of them
(services/kpis/registry.py) under the key its catalogue entry (config/kpis.yaml) names.

- emergency.py    call processing, turnout, travel, total response (NFPA 1710 / 1221 intervals)
- service.py      12345: response, resolution and satisfaction rates, overdue, transfers, time to close
- mobility.py     congested share of the monitored roads in peak hours, travel time index, worst roads
- environment.py  pollutant means, days with good or moderate air, unhealthy hours
- flood.py        station-hours at or above the alert level
- operations.py   alarm acknowledgement (also the flood alert's), sensor availability, monitoring coverage
- common.py       the period's filter, the answer per district, statistics (nearest-rank percentiles),
                  hour buckets in SQL
"""
from services.kpis.measures import emergency, environment, flood, mobility, operations, service  # noqa: F401
