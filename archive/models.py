"""Message archive models."""
