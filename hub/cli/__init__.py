"""`python -m hub.cli`: a terminal tool for operators and debugging, against a running hub.

- `tail ID ...` (or `--group G`, `--all`): the live values of telemetry ids as a refreshing table, resuming
  with `since` after a reconnection; `--once` or `--count N` print a plain table and exit.
- `send COMMAND key=value ...`: sends a command (parameters typed from `/command-templates`), prints the ack
  and each confirmation until the final status; exits 0 when it completed, 1 otherwise.
- `history`: `/historical-data` as a table or CSV, following `next` cursors with `--all-pages`.

It speaks the hub's public contract only (Socket.IO and HTTP), as any other client does.
"""
