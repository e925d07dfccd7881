"""The ZAP policy with a fake clock: which keys are compared at all, who gets in, and when answers go."""

from __future__ import annotations

from remrepl.transport import ZapPolicy
from remrepl.transport.zap import STATUS_OK, STATUS_TOO_MANY, STATUS_WRONG_KEY, Decision, address_key

GOOD, BAD = b"g" * 32, b"b" * 32
HERE, THERE = "127.0.0.1", "127.0.0.2"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingKeys(frozenset[bytes]):
    """The allowed keys, counting how often a key is compared against them."""

    compared = 0

    def __contains__(self, key: object) -> bool:
        CountingKeys.compared += 1
        return super().__contains__(key)


def make(max_records: int = 100) -> tuple[ZapPolicy, Clock]:
    clock = Clock()
    return ZapPolicy([GOOD], clock=clock, interval=1.0, max_wait=8.0, max_records=max_records), clock


def test_the_right_key_gets_in_at_once() -> None:
    policy, clock = make()
    assert policy.decide(HERE, GOOD) == Decision(STATUS_OK, clock.now)


def test_a_first_wrong_key_is_answered_at_once_and_a_flood_gets_one_slot_per_interval() -> None:
    policy, clock = make()
    answers = [policy.decide(HERE, BAD) for _ in range(20)]  # 20 parallel guesses, all at once
    wrong = [a for a in answers if a.status == STATUS_WRONG_KEY]
    assert [a.at - clock.now for a in wrong] == [0, 1, 2, 3, 4, 5, 6, 7]  # the burst: 8 slots < 8 s
    assert all(a == Decision(STATUS_TOO_MANY, clock.now) for a in answers[8:])  # the rest: refused now


def test_keys_beyond_the_budget_are_not_even_compared() -> None:
    clock = Clock()
    policy = ZapPolicy(CountingKeys([GOOD]), clock=clock, interval=1.0, max_wait=8.0)
    for _ in range(8):
        policy.decide(HERE, BAD)
    CountingKeys.compared = 0
    # beyond the budget even the right key is refused unseen: else a flood could test keys at full speed
    assert policy.decide(HERE, GOOD).status == STATUS_TOO_MANY
    assert policy.decide(HERE, BAD).status == STATUS_TOO_MANY
    assert CountingKeys.compared == 0


def test_a_sustained_flood_gets_about_one_guess_compared_per_second() -> None:
    policy, clock = make()
    compared = 0
    for _ in range(6000):  # 100 guesses/s for 60 s from one address
        compared += policy.decide(HERE, BAD).status == STATUS_WRONG_KEY
        clock.now += 0.01
    assert 60 <= compared <= 60 + 8 + 1  # one per interval, plus the first burst


def test_no_answer_waits_as_long_as_max_wait() -> None:
    policy, clock = make()
    for _ in range(1000):
        decision = policy.decide(HERE, BAD)
        assert decision.at - clock.now < 8.0
        clock.now += 0.05


def test_the_legitimate_user_gets_in_at_once_beside_a_one_guess_per_second_attacker() -> None:
    policy, clock = make()
    for second in range(120):
        # the attacker sends a guess every second without waiting for the answers (the worst pacing)
        assert policy.decide(HERE, BAD).status == STATUS_WRONG_KEY
        clock.now += 0.5
        if second % 10 == 0:
            assert policy.decide(HERE, GOOD) == Decision(STATUS_OK, clock.now)  # not behind the queue
        clock.now += 0.5


def test_a_sequential_guesser_is_paced_and_never_told_too_many() -> None:
    policy, clock = make()
    answered_at = []
    for _ in range(30):  # waits for each answer before guessing again
        decision = policy.decide(HERE, BAD)
        assert decision.status == STATUS_WRONG_KEY
        clock.now = max(clock.now, decision.at) + 0.001
        answered_at.append(decision.at)
    assert answered_at[-1] - answered_at[0] >= 28  # about one per second


def test_the_budget_comes_back_within_one_interval_after_the_flood_stops() -> None:
    policy, clock = make()
    for _ in range(500):
        policy.decide(HERE, BAD)
        clock.now += 0.01
    assert policy.decide(HERE, GOOD).status == STATUS_TOO_MANY  # still in the flood
    clock.now += 1.0  # the attacker stopped a second ago
    assert policy.decide(HERE, GOOD) == Decision(STATUS_OK, clock.now)


def test_a_success_does_not_give_a_co_located_attacker_a_fresh_burst() -> None:
    policy, clock = make()
    for _ in range(8):
        policy.decide(HERE, BAD)
    clock.now += 1.0
    assert policy.decide(HERE, GOOD).status == STATUS_OK
    assert policy.decide(HERE, BAD).status == STATUS_WRONG_KEY  # the one free slot
    assert policy.decide(HERE, BAD).status == STATUS_TOO_MANY  # and no more


def test_other_addresses_are_not_slowed() -> None:
    policy, clock = make()
    for _ in range(50):
        policy.decide(HERE, BAD)
    assert policy.decide(THERE, GOOD) == Decision(STATUS_OK, clock.now)
    assert policy.decide(THERE, BAD) == Decision(STATUS_WRONG_KEY, clock.now)


def test_records_expire_once_their_answers_are_due() -> None:
    policy, clock = make()
    for i in range(50):
        policy.decide(f"10.0.0.{i}", BAD)
    assert policy.records == 50
    clock.now += 1.01
    policy.decide(THERE, GOOD)  # any request sweeps the expired ones
    assert policy.records == 0
    assert policy.wait(HERE) == 0


def test_records_are_capped_least_recently_used_first() -> None:
    policy, _ = make(max_records=10)
    for i in range(1000):
        policy.decide(f"10.0.{i // 256}.{i % 256}", BAD)
        assert policy.records <= 10
    assert policy.wait("10.0.3.231") > 0  # the latest are kept
    assert policy.wait("10.0.0.0") == 0  # the oldest went first


def test_ipv6_addresses_share_a_budget_per_64_and_ipv4_mapped_counts_as_ipv4() -> None:
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert address_key("2001:db8:0:1::1") != address_key("2001:db8::1")
    assert address_key("::ffff:127.0.0.1") == "127.0.0.1"
    assert address_key("fe80::1%eth0") == "fe80::/64"
    policy, _ = make()
    for i in range(8):
        policy.decide(f"2001:db8::{i + 1}", BAD)
    assert policy.decide("2001:db8::99", BAD).status == STATUS_TOO_MANY
