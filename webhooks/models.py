"""Webhooks models."""
