"""Telemetry sources that need no hardware: `simulator` plays a small spacecraft bus from the templates.

`simulator.py` is the Source; `spacecraft.py` (with `attitude.py` and `thermal.py`) is the vehicle state that
commands change; `commands.py` plays each command's timeline; `signals.py` turns state and knobs into values;
`knobs.py` validates the templates' `simulation:` knobs; `scheduler.py` decides which sample is due when.
"""
