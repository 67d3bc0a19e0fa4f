"""The benchmark suite: the hub against a minimal Node socket.io server and stock python-socketio.

Run it with `.venv/bin/python bench/run.py`; bench/README.md says what it measures and how.
"""
