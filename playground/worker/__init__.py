"""The worker: the one loop that claims due rows (leases) and steps them: the key's limits and fair turns,
lost-create recovery from the usage log, saving finished videos, the scheduled chores, and /healthz.

The worker is the one place that reaches into every domain; no domain imports it.
"""
