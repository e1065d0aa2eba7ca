"""Citizen requests as work orders: the hotline loop from intake to a satisfied citizen.

- catalogue.py  config/services.yaml and config/departments.yaml: services, departments, time limits
- orders.py     lifecycle, clocks (response, resolution; due soon, overdue), views and queries
- commands.py   every step as a command (receive, assign, transfer, accept, start, resolve, close,
                reopen, note, merge, rate), role-checked and audited
- intake.py     citizen reports from MQTT: emergencies to the dispatch queue, the rest to work orders
- overdue.py    the overdue alarm (services/alarms.py)
- publish.py    the citizen's status updates on MQTT
- layer.py      open requests on the operations map
- jobs.py       what the ingest role runs on a clock
"""
