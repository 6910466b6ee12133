"""Versioned messages that cross the boundary, and their committed JSON Schemas."""
