"""Quarantine models."""
