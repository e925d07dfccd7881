from __future__ import annotations

from remrepl.transport import KdfParams, KeyPair, derive_client_keys, is_z85_key

FAST = KdfParams(iterations=1, memory_kib=1024, lanes=1)


def test_derivation_is_deterministic_and_salted_by_the_server_key() -> None:
    server_a, server_b = KeyPair.generate(), KeyPair.generate()
    first = derive_client_keys("pw", server_a.public, FAST)
    assert first == derive_client_keys("pw", server_a.public, FAST)
    assert first != derive_client_keys("pw", server_b.public, FAST)
    assert first != derive_client_keys("pw2", server_a.public, FAST)
    assert is_z85_key(first.public) and is_z85_key(first.secret)
    assert KeyPair.from_secret(first.secret) == first


def test_cost_parameters_matter() -> None:
    server = KeyPair.generate()
    assert derive_client_keys("pw", server.public, FAST) != derive_client_keys("pw", server.public, KdfParams())


def test_z85_check() -> None:
    assert not is_z85_key(b"short")
    assert not is_z85_key(b"\xff" * 40)
    assert is_z85_key(KeyPair.generate().public)


def test_kdf_params_json() -> None:
    assert KdfParams.from_json(FAST.to_json()) == FAST
    assert KdfParams.from_json(None) == KdfParams()
