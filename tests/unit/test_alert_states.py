"""The alert state machine: one notice per incident, re-alerts, recovery, flapping, mutes,
maintenance windows and acknowledgements; and properties over any sequence of observations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwork.domain.alert_states import (
    AlertState,
    NoticeKind,
    Status,
    StepResult,
    acknowledge,
    mute,
    step,
)
from tickwork.domain.alerts import NotifyPolicy, Observation
from tickwork.domain.maintenance import MaintenanceWindow
from tickwork.errors import InvalidStateError

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday
BAD = Observation("task:etl", True, "3 consecutive failures", {"task": "etl", "run_id": "r9"})
GOOD = Observation("task:etl", False)
POLICY = NotifyPolicy(rule="etl-failing")


class Driver:
    """Feeds observations one by one, keeping the state and every notice sent."""

    def __init__(self, policy: NotifyPolicy = POLICY) -> None:
        self.state = AlertState()
        self.policy = policy
        self.sent: list[NoticeKind] = []
        self.last: StepResult | None = None

    def at(self, minutes: float, observation: Observation) -> list[NoticeKind]:
        result = step(self.state, observation, T0 + timedelta(minutes=minutes), self.policy)
        self.state, self.last = result.state, result
        kinds = [notice.kind for notice in result.notifications]
        self.sent += kinds
        return kinds


def test_one_firing_notice_per_streak_then_a_recovery_with_its_length() -> None:
    drive = Driver()
    assert drive.at(0, GOOD) == []
    assert drive.at(1, BAD) == [NoticeKind.FIRING]
    firing = drive.last.notifications[0] if drive.last else None
    assert firing is not None and firing.details["run_id"] == "r9"
    assert firing.title == "[FIRING] etl-failing on task:etl"
    assert drive.at(2, BAD) == []
    assert drive.at(3, BAD) == []
    assert drive.at(31, GOOD) == [NoticeKind.RESOLVED]
    notice = drive.last.notifications[0] if drive.last else None
    assert notice is not None and notice.lasted_seconds == 30 * 60
    assert notice.since == T0 + timedelta(minutes=1)
    assert notice.why == "recovered"
    assert notice.title == "[RESOLVED] etl-failing on task:etl after 30m"
    assert drive.state.status is Status.OK and not drive.state.announced


def test_steady_states_store_nothing_and_changes_bump_the_version() -> None:
    drive = Driver()
    drive.at(0, GOOD)
    assert drive.last is not None and drive.last.transition is None
    assert drive.state.version == 0
    drive.at(1, BAD)
    transition = drive.last.transition if drive.last else None
    assert transition is not None
    assert (transition.from_status, transition.to_status) == (Status.OK, Status.FIRING)
    assert (transition.expected_version, transition.version) == (0, 1)
    assert transition.sent == (NoticeKind.FIRING,)
    assert transition.why == "3 consecutive failures"
    drive.at(2, BAD)
    assert drive.last is not None and drive.last.transition is None
    assert drive.state.version == 1


def test_realerts_at_the_interval_until_acknowledged() -> None:
    drive = Driver(NotifyPolicy(rule="r", realert_seconds=600))
    assert drive.at(0, BAD) == [NoticeKind.FIRING]
    assert drive.at(9, BAD) == []
    assert drive.at(10, BAD) == [NoticeKind.REALERT]
    assert drive.at(15, BAD) == []
    assert drive.at(20, BAD) == [NoticeKind.REALERT]
    acked = acknowledge(drive.state, T0 + timedelta(minutes=21), "ann")
    assert acked.transition is not None and acked.transition.why == "acknowledged by ann"
    drive.state = acked.state
    assert drive.at(40, BAD) == []
    assert drive.at(41, GOOD) == [NoticeKind.RESOLVED]
    assert drive.state.acked_by is None  # an acknowledgement ends with its incident
    assert drive.at(42, BAD) == [NoticeKind.FIRING]
    assert drive.at(52, BAD) == [NoticeKind.REALERT]


def test_only_a_firing_alert_can_be_acknowledged() -> None:
    with pytest.raises(InvalidStateError):
        acknowledge(AlertState(), T0, "ann")


def test_flapping_sends_one_notice_then_holds_until_stable_for_the_window() -> None:
    drive = Driver(NotifyPolicy(rule="r", flap_flips=3, flap_window_seconds=600))
    assert drive.at(0, BAD) == [NoticeKind.FIRING]
    assert drive.at(1, GOOD) == [NoticeKind.RESOLVED]
    assert drive.at(2, BAD) == [NoticeKind.FIRING]
    assert drive.at(3, GOOD) == [NoticeKind.FLAPPING]  # the 4th change within 10 minutes
    assert drive.last is not None and drive.last.transition is not None
    assert drive.last.transition.why.startswith("flapping: 4 changes within 10m")
    for minute in range(4, 12):
        assert drive.at(minute, BAD if minute % 2 else GOOD) == []
    assert drive.state.flapping
    # Last change at minute 11: stable for the window at 21, settled firing; receivers were last
    # told "firing" (minute 2), so nothing more to say.
    assert drive.at(20, BAD) == []
    assert drive.at(21, BAD) == []
    assert not drive.state.flapping
    assert drive.at(22, GOOD) == [NoticeKind.RESOLVED]


def test_settling_after_flapping_tells_where_it_settled() -> None:
    drive = Driver(NotifyPolicy(rule="r", flap_flips=2, flap_window_seconds=600))
    drive.at(0, BAD)
    drive.at(1, GOOD)
    assert drive.at(2, BAD) == [NoticeKind.FLAPPING]
    assert drive.at(3, GOOD) == []
    # Receivers last heard "resolved" (minute 1); it settles ok: nothing to tell.
    assert drive.at(13, GOOD) == []
    assert not drive.state.flapping
    drive2 = Driver(NotifyPolicy(rule="r", flap_flips=2, flap_window_seconds=600))
    drive2.at(0, BAD)
    drive2.at(1, GOOD)
    assert drive2.at(2, BAD) == [NoticeKind.FLAPPING]
    assert drive2.at(12, BAD) == [NoticeKind.FIRING]


def test_nothing_is_sent_while_muted_and_the_state_is_told_after() -> None:
    policy = NotifyPolicy(rule="r", muted_until=T0 + timedelta(minutes=30))
    drive = Driver(policy)
    assert drive.at(0, BAD) == []
    assert drive.state.status is Status.FIRING and not drive.state.announced
    assert drive.at(29, BAD) == []
    assert drive.at(30, BAD) == [NoticeKind.FIRING]
    assert drive.last is not None and drive.last.notifications[0].since == T0


def test_a_recovery_inside_a_mute_is_told_after_with_the_real_length() -> None:
    drive = Driver()
    assert drive.at(0, BAD) == [NoticeKind.FIRING]
    drive.state = mute(drive.state, T0, T0 + timedelta(minutes=60), "ann").state
    assert drive.at(10, GOOD) == []
    assert drive.at(59, GOOD) == []
    assert drive.at(60, GOOD) == [NoticeKind.RESOLVED]
    notice = drive.last.notifications[0] if drive.last else None
    assert notice is not None and notice.lasted_seconds == 600


def test_an_incident_that_starts_and_ends_in_a_mute_sends_nothing() -> None:
    drive = Driver()
    drive.state = mute(drive.state, T0, T0 + timedelta(minutes=60), "ann").state
    assert drive.at(1, BAD) == []
    assert drive.at(2, GOOD) == []
    assert drive.at(90, GOOD) == []
    assert drive.sent == []


def test_maintenance_windows_hold_notices_in_their_local_time() -> None:
    # Monday 13:00-14:00 in Berlin is 12:00-13:00 UTC in March (CET).
    window = MaintenanceWindow.parse("mon 13:00-14:00 Europe/Berlin")
    drive = Driver(NotifyPolicy(rule="r", maintenance=(window,)))
    assert drive.at(0, BAD) == []
    assert drive.at(59, BAD) == []
    assert drive.at(60, BAD) == [NoticeKind.FIRING]


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        step(AlertState(), BAD, datetime(2026, 1, 1), POLICY)


observations = st.lists(
    st.tuples(st.integers(min_value=1, max_value=900), st.booleans(), st.integers(0, 20)),
    min_size=1,
    max_size=60,
)
policies = st.builds(
    NotifyPolicy,
    rule=st.just("r"),
    realert_seconds=st.one_of(st.none(), st.sampled_from([60.0, 600.0, 3600.0])),
    flap_flips=st.integers(min_value=1, max_value=6),
    flap_window_seconds=st.sampled_from([300.0, 1800.0, 7200.0]),
    muted_until=st.one_of(st.none(), st.sampled_from([T0 + timedelta(hours=h) for h in (1, 5)])),
    maintenance=st.sampled_from(
        [(), (MaintenanceWindow.parse("daily 14:00-15:30 Europe/Berlin"),)]
    ),
)


@settings(max_examples=300, deadline=None)
@given(policy=policies, sequence=observations)
def test_properties_over_any_sequence(
    policy: NotifyPolicy, sequence: list[tuple[int, bool, int]]
) -> None:
    state, now = AlertState(), T0
    kinds: list[NoticeKind] = []
    for gap, breached, ack in sequence:
        now += timedelta(seconds=gap)
        if ack == 0 and state.status is Status.FIRING:
            state = acknowledge(state, now, "ops").state
        elif ack == 1:
            state = mute(state, now, now + timedelta(minutes=20), "ops").state
        result = step(state, Observation("s", breached, "why"), now, policy)
        sent = [n.kind for n in result.notifications]
        muted = (policy.muted_until is not None and now < policy.muted_until) or (
            state.muted_until is not None and now < state.muted_until
        )
        assert not (muted and sent), "nothing is sent while muted"
        in_window = any(window.contains(now) for window in policy.maintenance)
        assert not (in_window and sent), "nothing is sent in a maintenance window"
        assert len(sent) <= 1
        assert len(result.state.flips) <= policy.flap_flips + 1
        if NoticeKind.REALERT in sent:
            assert result.state.acked_by is None and result.state.status is Status.FIRING
        if result.transition is None:
            assert result.state == state and not sent
        else:
            assert result.transition.version == state.version + 1
            assert result.transition.expected_version == state.version
            assert list(result.transition.sent) == sent
        assert result.state.announced == (
            [k for k in kinds + sent if k in (NoticeKind.FIRING, NoticeKind.RESOLVED)][-1:]
            == [NoticeKind.FIRING]
        )
        if not muted and not in_window and not result.state.flapping:
            # Whenever receivers may be told, they know whether it is firing.
            assert result.state.announced == (result.state.status is Status.FIRING)
        kinds += sent
        state = result.state
    # Firing and resolved alternate, starting with firing; re-alerts only inside an incident.
    told = Status.OK
    for kind in kinds:
        if kind is NoticeKind.FIRING:
            assert told is Status.OK, "two firing notices without a resolve in between"
            told = Status.FIRING
        elif kind is NoticeKind.RESOLVED:
            assert told is Status.FIRING, "a recovery of nothing"
            told = Status.OK
        elif kind is NoticeKind.REALERT:
            assert told is Status.FIRING
