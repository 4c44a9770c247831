"""Quarantine admin pages."""
