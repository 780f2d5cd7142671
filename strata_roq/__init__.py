"""Strata RoQ: carry live video over several unreliable networks as RTP over QUIC.

Protocol and policy code lives in sans-I/O cores (bytes and a time in, bytes, events and
timers out); sockets, asyncio and the wall clock live only in the adapters under ``io/``.
"""

__version__ = "0.1.0"
