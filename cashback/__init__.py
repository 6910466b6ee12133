"""cashback: event-sourced status engine for a cashback campaign."""

__version__ = "0.1.0"
