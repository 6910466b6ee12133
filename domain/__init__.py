"""Pure domain of the cashback engine: no I/O, no clock, no environment."""
