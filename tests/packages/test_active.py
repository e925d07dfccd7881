from remrepl.packages import active
from remrepl.packages.install import Requirements


def test_listeners_hear_of_each_install_until_they_unsubscribe() -> None:
    seen: list[Requirements] = []
    unsubscribe = active.on_install(seen.append)
    first = Requirements(specs=("numpy",), source="%pip install")
    active.installed(first)
    unsubscribe()
    unsubscribe()  # twice is harmless
    active.installed(Requirements(specs=("pandas",)))
    assert seen == [first]
