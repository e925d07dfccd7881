# Loaded by every Python process the tests start (tests/conftest.py puts this folder on PYTHONPATH).
import netguard

netguard.install()
