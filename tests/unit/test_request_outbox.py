"""Who sends a request's status updates: the process that has a broker connection."""
from __future__ import annotations

from services.requests.commands import NO_PUBLISHER, RequestContext, publish_updates


class _NoDatabase:
    """Any look at the database (the outbox of unpublished facts) fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"the outbox was read ({name})")


def test_a_process_without_a_broker_leaves_the_status_updates_to_the_ingest_roles_job():
    """The simulator's hotline desk has no publisher: at each step it re-read up to 200 unpublished facts and
    their orders to publish none of them (61 % of the demo history's hotline time); the ingest's job sends them."""
    context = RequestContext(_NoDatabase(), None, lambda: None, "Europe/Helsinki", "city")
    assert context.publish is NO_PUBLISHER
    assert publish_updates(context) == 0
