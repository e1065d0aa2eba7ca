"""The reactions stop when the ingest cancels them, even when it wakes them in the same moment (its last
commit): on Python 3.11 ``asyncio.wait_for`` returned the woken wait's result and lost the cancel, the
reactions went on, and the ingest's stop waited for them forever (a series run: "the ingest did not stop")."""
from __future__ import annotations

import asyncio

from services.reactions import Reactions


class NotLeading:
    """A leadership that never leads: the reactions only wait to be woken."""

    def hold(self) -> bool:
        return False

    def release(self) -> None:
        pass


def test_reactions_woken_in_the_step_they_are_cancelled_stop():
    async def scenario() -> bool:
        reactions = Reactions(None, [], poll_s=5.0, leadership=NotLeading())
        task = asyncio.create_task(reactions.run())
        await asyncio.sleep(0.3)  # it asked for the lead (in a thread), was refused, and waits to be woken
        reactions.wake()  # the ingest's last commit ...
        task.cancel()  # ... and its stop, in the same step
        await asyncio.wait({task}, timeout=3)
        stopped = task.done() and task.cancelled()
        if not task.done():  # the bug: it went on; end it for the test's sake
            task.cancel()
            await asyncio.wait({task}, timeout=3)
        return stopped

    assert asyncio.run(scenario()), "the reactions went on after being cancelled"
