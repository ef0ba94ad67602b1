"""Kalido Audience collector: consent-gated beacons in, anonymous rows out."""

__version__ = "0.1.0"
