"""WebTransport egress: media frames for browsers (wire header, TS → elementary frames,
per-viewer sessions with deadline resets, viewer tokens)."""
