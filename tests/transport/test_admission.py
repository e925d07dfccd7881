"""The cap on unauthenticated connections, sans I/O with a fake clock (the I/O is in test_brute_force.py)."""

from __future__ import annotations

from remrepl.transport.gate import AdmissionPolicy, total_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(per_address: int = 3, total: int = 6) -> tuple[AdmissionPolicy, Clock]:
    clock = Clock()
    return AdmissionPolicy(per_address=per_address, total=total, handshake_seconds=15.0, clock=clock), clock


def open_from(policy: AdmissionPolicy, address: str, fds: range) -> list[list[int]]:
    return [shed(policy, fd, address, 40000 + fd) for fd in fds]


def shed(policy: AdmissionPolicy, fd: int, address: str, port: int) -> list[int]:
    """The fds shut down when ``fd`` comes in (checking each carries its own recorded peer)."""
    connections = policy.accepted(fd, address, (address, port))
    return [victim for victim, _ in connections]


def test_the_excess_of_one_address_is_shed_and_others_still_get_in() -> None:
    policy, _ = make()
    assert open_from(policy, "10.0.0.1", range(10, 15)) == [[], [], [], [13], [14]]
    assert open_from(policy, "10.0.0.2", range(20, 21)) == [[]]
    assert policy.unauthenticated == 4


def test_a_full_gate_sheds_the_newest_of_the_heaviest_address_not_the_newcomer() -> None:
    policy, _ = make(per_address=4, total=6)
    open_from(policy, "10.0.0.1", range(10, 14))  # 4
    open_from(policy, "10.0.0.2", range(20, 22))  # 2: full
    assert policy.accepted(30, "10.0.0.3", ("10.0.0.3", 1)) == [(13, ("10.0.0.1", 40013))]  # newcomer in
    assert policy.peer(13) is None and policy.peer(30) == ("10.0.0.3", 1)
    assert shed(policy, 31, "10.0.0.3", 2) == [12]
    # now 2, 2, 2: nobody holds more than the newcomer's address would: the newcomer is shed
    assert shed(policy, 32, "10.0.0.3", 3) == [32]
    assert policy.unauthenticated == 6


def test_authenticated_and_closed_connections_stop_counting() -> None:
    policy, _ = make()
    open_from(policy, "10.0.0.1", range(10, 13))
    policy.authenticated("10.0.0.1")  # the ZAP handler admitted a key from there
    assert shed(policy, 13, "10.0.0.1", 13) == []
    policy.closed(10)
    assert shed(policy, 14, "10.0.0.1", 14) == []
    assert shed(policy, 15, "10.0.0.1", 15) == [15]
    assert policy.live == {11, 12, 13, 14, 15}  # shed ones stay live until libzmq closes them


def test_connections_older_than_the_handshake_deadline_have_authenticated() -> None:
    policy, clock = make()
    open_from(policy, "10.0.0.1", range(10, 13))
    clock.now += 16.5
    assert shed(policy, 13, "10.0.0.1", 13) == []
    assert policy.unauthenticated == 1
    assert 10 in policy.live


def test_a_reused_fd_number_is_a_new_connection() -> None:
    policy, _ = make()
    open_from(policy, "10.0.0.1", range(10, 13))
    assert shed(policy, 10, "10.0.0.2", 5) == []  # 10's close was missed
    assert policy.peer(10) == ("10.0.0.2", 5)
    assert shed(policy, 13, "10.0.0.1", 13) == []


def test_ipv6_counts_per_64() -> None:
    policy, _ = make()
    for i in range(3):
        policy.accepted(10 + i, f"2001:db8::{i + 1}", (f"2001:db8::{i + 1}", 1))
    assert shed(policy, 20, "2001:db8::ff", 1) == [20]


def test_the_total_follows_the_fd_limit() -> None:
    assert total_for(65536) == 256
    assert total_for(1024) == 256
    assert total_for(512) == 192
    assert total_for(64) == 8
