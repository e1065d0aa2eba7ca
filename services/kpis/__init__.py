"""Evaluation scorecards: how well the city is run, per district and period, against targets.

- registry.py   the measures: one function per KPI, registered under a key; each reads what CityOps
                recorded for one district (or the city) over one period and answers a ``Measured``
- catalogue     config/kpis.yaml: every KPI as one entry (label in both languages, dimension, unit,
                direction, measure and its parameters, standard, default target)
"""
