"""Receiver playout: the jitter buffer that turns bursty, reordered arrivals back into the
media's own timing."""
