"""Centinela: alarm central-station console and internet-service billing."""

__version__ = "0.1.0"
