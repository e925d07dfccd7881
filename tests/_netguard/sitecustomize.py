# Loaded by every Python process the tests start (tests/support/guard.py puts this folder on PYTHONPATH).
import netguard

netguard.install()
