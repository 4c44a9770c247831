"""Channels models."""
