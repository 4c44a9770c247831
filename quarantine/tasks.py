"""Periodic work of the quarantine: thin, the rules are in quarantine.rules."""

from quarantine import rules


def daily_cleanup() -> dict:
    """Resets counts older than 10 days (those addresses are Valid again) and removes Valid entries."""
    return rules.entries_cleanup()
