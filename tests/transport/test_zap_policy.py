"""The ZAP policy with a fake clock: who gets in, and how long a guesser waits."""

from __future__ import annotations

from remrepl.transport import ZapPolicy

GOOD, BAD = b"g" * 32, b"b" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make() -> tuple[ZapPolicy, Clock]:
    clock = Clock()
    return ZapPolicy([GOOD], clock=clock, base_delay=0.25, max_delay=30.0, forget_after=600.0), clock


def test_the_right_key_gets_in_at_once() -> None:
    policy, clock = make()
    assert policy.decide("1.2.3.4", GOOD) == (True, clock.now)


def test_failures_from_one_address_wait_longer_and_longer() -> None:
    policy, clock = make()
    waits = []
    for _ in range(10):
        ok, when = policy.decide("1.2.3.4", BAD)
        assert not ok
        waits.append(when - clock.now)
        clock.now = when  # the guesser waits for each answer before the next guess
    assert waits[:4] == [0.25, 0.5, 1.0, 2.0]
    assert max(waits) == 30.0  # capped: slowed down, never locked out for good
    assert policy.failures("1.2.3.4") == 10


def test_parallel_guesses_are_answered_one_after_another() -> None:
    policy, _ = make()
    answers = [policy.decide("1.2.3.4", BAD)[1] for _ in range(4)]
    assert answers == sorted(answers) and len(set(answers)) == 4
    # the right key from the same address waits its turn too, then gets in and clears the record
    ok, when = policy.decide("1.2.3.4", GOOD)
    assert ok and when == answers[-1]
    assert policy.failures("1.2.3.4") == 0


def test_other_addresses_are_not_slowed() -> None:
    policy, clock = make()
    for _ in range(5):
        policy.decide("1.2.3.4", BAD)
    assert policy.decide("5.6.7.8", GOOD) == (True, clock.now)
    assert policy.decide("5.6.7.8", BAD) == (False, clock.now + 0.25)


def test_a_quiet_spell_forgets_old_failures() -> None:
    policy, clock = make()
    for _ in range(6):
        policy.decide("1.2.3.4", BAD)
    clock.now += 601 + 30 * 6
    assert policy.decide("1.2.3.4", BAD) == (False, clock.now + 0.25)
