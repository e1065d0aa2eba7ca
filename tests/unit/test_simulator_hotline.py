"""The simulator's hotline players (services/simulator/hotline.py): what agents, departments and
citizens do with the simulator's own requests, deterministic with the seed."""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from services.simulator.hotline import HotlinePlayers, OrderSeen, department_pace, rating_message

DEPARTMENTS = ["roads", "lighting", "sanitation", "water", "energy", "parks", "traffic", "environment",
               "planning", "emergency"]
T0 = datetime(2026, 3, 12, 8, 0, tzinfo=timezone.utc)
DAY = 86400.0


def order(n: int, seed: int = 42, status: str = "received", department: str | None = None, **changes) -> OrderSeen:
    seen = OrderSeen(id=n, request_id=f"S{seed}-260312-08{n:04d}", status=status, owner="roads", department=department,
                     requested_at=T0, updated_at=T0, resolved_at=None, reopen_count=0, response_s=DAY,
                     resolution_s=7 * DAY)
    return replace(seen, **changes)


def first_step(players: HotlinePlayers, seen: OrderSeen, within: timedelta = timedelta(days=60)):
    """The first step the players take on ``seen`` and when, looking every 10 minutes."""
    moment = seen.updated_at
    while moment <= seen.updated_at + within:
        step = players.next_step(seen, moment)
        if step is not None:
            return step, moment
        moment += timedelta(minutes=10)
    return None, None


def test_the_same_seed_plays_the_same_and_another_seed_differently():
    orders = [order(n) for n in range(40)]
    later = T0 + timedelta(minutes=30)
    one, two = HotlinePlayers(42, DEPARTMENTS), HotlinePlayers(42, DEPARTMENTS)
    assert one.steps(orders, later) == two.steps(orders, later)
    assert one.pace == two.pace
    other = HotlinePlayers(43, DEPARTMENTS)
    assert other.pace != one.pace
    assert other.steps([order(n, seed=43) for n in range(40)], later) != one.steps(orders, later)


def test_only_the_simulators_own_requests_are_played():
    players = HotlinePlayers(42, DEPARTMENTS)
    mine, a_persons = order(1), order(2, request_id="CO-000002")
    assert [s.request_id for s in players.steps([mine, a_persons], T0 + timedelta(hours=1))] == [mine.request_id]


def test_some_departments_are_slow_enough_to_miss_their_deadlines_and_the_rest_are_not():
    paces = {d: department_pace(42, d) for d in DEPARTMENTS}
    slow = [d for d, pace in paces.items() if pace > 1]
    assert 1 <= len(slow) <= len(DEPARTMENTS) // 2
    players = HotlinePlayers(42, DEPARTMENTS)
    for department in (slow[0], min(paces, key=paces.get)):
        assigned = order(1, status="assigned", owner=department, department=department)
        step, at = first_step(players, assigned)
        assert step.action == "accept" and step.by == department
        overdue = at - assigned.updated_at > timedelta(seconds=assigned.response_s)
        assert overdue == (department in slow)


def test_the_agent_assigns_most_requests_to_their_department_misroutes_a_few_and_merges_duplicates():
    players = HotlinePlayers(42, DEPARTMENTS)
    steps = [first_step(players, order(n))[0] for n in range(200)]
    assert {s.action for s in steps} == {"assign"}
    wrong = [s for s in steps if s.department != "roads"]
    assert 5 <= len(wrong) <= 50 and "emergency" not in {s.department for s in wrong}
    duplicate = order(7, repeats=3)
    step, at = first_step(players, duplicate)
    assert (step.action, step.into) == ("merge", 3) and at - T0 <= timedelta(minutes=20)


def test_a_misrouted_order_is_transferred_to_its_department_which_accepts_starts_and_resolves_it():
    players = HotlinePlayers(42, DEPARTMENTS)
    misrouted = next(s for s in (first_step(players, order(n))[0] for n in range(200)) if s.department != "roads")
    seen = order(misrouted.order_id, status="assigned", department=misrouted.department)
    step, at = first_step(players, seen)
    assert (step.action, step.by, step.department) == ("transfer", misrouted.department, "roads") and step.text
    actions = []
    for status in ("assigned", "accepted", "in_progress"):
        seen = replace(seen, status=status, department="roads", updated_at=at)
        step, at = first_step(players, seen)
        actions.append((step.action, step.by))
    assert actions == [("accept", "roads"), ("start", "roads"), ("resolve", "roads")] and step.text


def test_citizens_rate_resolved_orders_some_dissatisfied_more_so_when_answered_late():
    players = HotlinePlayers(42, DEPARTMENTS)

    def ratings(resolved_after: timedelta) -> Counter:
        answers = Counter()
        for n in range(300):
            resolved = order(n, status="resolved", department="roads", resolved_at=T0 + resolved_after,
                             updated_at=T0 + resolved_after)
            step, at = first_step(players, resolved, within=timedelta(hours=3))
            assert step.action == "rate" and timedelta(minutes=10) <= at - resolved.resolved_at <= timedelta(hours=2)
            answers[step.satisfaction] += 1
        return answers

    on_time, late = ratings(timedelta(days=2)), ratings(timedelta(days=9))
    assert set(on_time) == {"satisfied", "basically_satisfied", "dissatisfied"}
    assert on_time["satisfied"] > on_time["dissatisfied"] > 10
    assert late["dissatisfied"] > 2 * on_time["dissatisfied"]
    assert ratings(timedelta(days=2)) == on_time  # the same citizens answer the same


def test_a_citizens_answer_is_published_where_citizen_apps_answer():
    players = HotlinePlayers(42, DEPARTMENTS)
    resolved = order(1, status="resolved", department="roads", resolved_at=T0)
    step, _ = first_step(players, resolved)
    sent = rating_message("city", step)
    assert sent.topic == f"city/requests/{resolved.request_id}/satisfaction"
    assert sent.json()["satisfaction"] == step.satisfaction and sent.json()["service_request_id"] == resolved.request_id
