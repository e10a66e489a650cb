"""Properties of the breaker that hold for any sequence of gates and outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from batchops.core import breaker, breaker_operator, timeutil
from batchops.core.breaker import CLOSED, FAILURE, OPEN, SUCCESS, Breaker, BreakerConfig

T0 = datetime(2026, 1, 1, tzinfo=UTC)

configs = st.builds(
    lambda size, minimum, threshold, wait, cap: BreakerConfig(
        window_size=size,
        minimum_attempts=min(minimum, size),
        failure_rate_threshold=threshold,
        wait=timedelta(minutes=wait),
        max_wait=timedelta(minutes=cap),
    ),
    size=st.integers(1, 20),
    minimum=st.integers(1, 20),
    threshold=st.sampled_from([0.1, 0.25, 0.5, 0.75, 1.0]),
    wait=st.integers(0, 240),
    cap=st.integers(0, 48 * 60),
)
# an event: ("gate", minutes later) or ("record", minutes later, outcomes)
events = st.lists(
    st.one_of(
        st.tuples(st.just("gate"), st.integers(0, 600)),
        st.tuples(st.just("record"), st.integers(0, 600), st.lists(st.sampled_from([SUCCESS, FAILURE]), max_size=12)),
    ),
    max_size=60,
)


def run(config: BreakerConfig, script: list[tuple]):  # type: ignore[no-untyped-def]
    """Yield (before, after, transitions, now, kind, outcomes) for every event."""
    b = Breaker.from_entry(None, config)
    now = T0
    for event in script:
        now += timedelta(minutes=event[1])
        before = b.copy()
        if event[0] == "gate":
            b, decision = breaker.gate(b, now, config)
            moves = [decision.transition] if decision.transition else []
            yield before, b, moves, now, "gate", []
        else:
            b, result = breaker.record(b, event[2], now, config)
            yield before, b, list(result.transitions), now, "record", event[2]


@settings(max_examples=300, deadline=None)
@given(configs, events)
def test_no_path_jumps_from_open_to_closed(config: BreakerConfig, script: list[tuple]) -> None:
    for before, after, moves, *_ in run(config, script):
        assert not (before.state == OPEN and after.state == CLOSED)
        for move in moves:
            assert not (move.source == OPEN and move.target == CLOSED)


@settings(max_examples=300, deadline=None)
@given(configs, events)
def test_never_trips_below_the_minimum_attempts(config: BreakerConfig, script: list[tuple]) -> None:
    for _before, after, moves, *_ in run(config, script):
        for move in moves:
            if move.name == "trip":
                assert after.window.attempts >= config.minimum_attempts


@settings(max_examples=300, deadline=None)
@given(configs, events)
def test_window_never_exceeds_its_size(config: BreakerConfig, script: list[tuple]) -> None:
    for _before, after, *_ in run(config, script):
        assert after.window.attempts <= config.window_size
        assert len(after.write({})["window"]) <= config.window_size


@settings(max_examples=300, deadline=None)
@given(configs, events)
def test_wait_never_exceeds_the_cap(config: BreakerConfig, script: list[tuple]) -> None:
    for _before, after, moves, now, *_ in run(config, script):
        if any(m.target == OPEN for m in moves):
            wait = timeutil.parse_iso(after.opens_at) - now
            assert timedelta(0) <= wait <= max(config.max_wait, timedelta(0))
            assert wait <= config.wait_for(after.consecutive_opens)


@settings(max_examples=200, deadline=None)
@given(configs, events)
def test_consecutive_failures_keep_their_legacy_meaning(config: BreakerConfig, script: list[tuple]) -> None:
    for before, after, _moves, _now, kind, outcomes in run(config, script):
        if kind != "record" or not outcomes:
            continue
        tail = 0
        for outcome in reversed(outcomes):
            if outcome == SUCCESS:
                break
            tail += 1
        expected = tail if SUCCESS in outcomes else before.failures + tail
        assert after.failures == expected


@settings(max_examples=200, deadline=None)
@given(configs, events)
def test_a_closed_breaker_always_lets_the_batch_run(config: BreakerConfig, script: list[tuple]) -> None:
    for before, _after, moves, now, kind, _ in run(config, script):
        if kind == "gate" and before.state == CLOSED:
            _, decision = breaker.gate(before, now, config)
            assert not decision.skip and not moves


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000))
def test_wait_for_doubles_and_is_capped(n: int) -> None:
    config = BreakerConfig()
    wait = config.wait_for(n)
    assert wait <= timedelta(hours=24)
    if 1 <= n <= 5:
        assert wait == timedelta(hours=2 ** (n - 1))


# batches' events and the operators' controls (breaker reset / probe / open)
all_writers = st.lists(
    st.one_of(
        st.tuples(st.just("gate"), st.integers(0, 600)),
        st.tuples(st.just("record"), st.integers(0, 600), st.lists(st.sampled_from([SUCCESS, FAILURE]), max_size=12)),
        st.tuples(st.sampled_from(["reset", "operator-probe", "operator-open"]), st.integers(0, 600)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(configs, all_writers)
def test_batchops_own_writes_never_look_like_a_legacy_write(config: BreakerConfig, script: list[tuple]) -> None:
    # the mixed-writer rule must never fire on what batchops itself wrote, or it would rewrite good history
    b, now = Breaker.from_entry(None, config), T0
    for event in script:
        now += timedelta(minutes=event[1])
        if event[0] == "gate":
            b, _ = breaker.gate(b, now, config)
        elif event[0] == "record":
            b, _ = breaker.record(b, event[2], now, config)
        else:
            b, _, _ = breaker_operator.operator_move(b, event[0], now, config)
        entry = b.write({})
        assert breaker.legacy_wrote_after(breaker._as_stored(entry, config), entry) == [], event
        assert Breaker.from_entry(entry, config).window.outcomes == b.window.outcomes
