"""The projection of the quarantined share as the base ages, against the seed's example."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from quarantine.reports import ERR_GROWTH, ERR_LIFETIME, ERR_YEARS, quarantine_projection


def test_the_seeds_example_three_years_and_fifty_percent():
    # (1 × 0.33) / (1 + 0.5) = 22 %; ((1.22 × 0.33) + 0.33) / (1.5 + 0.75) = 32.5 %
    assert quarantine_projection(lifetime_years=3, growth_percent=50, years=2) == [
        (1, Decimal("22.0")), (2, Decimal("32.5"))]


def test_later_years_follow_the_same_recurrence():
    shares = dict(quarantine_projection(lifetime_years=3, growth_percent=50, years=3))
    # Q3 = 0.7326 + 0.33 × (1 + 0.3256) = 1.169048; B3 = 3.375
    assert shares[3] == Decimal("34.6")


def test_without_growth_the_share_reaches_everything_and_stops_there():
    shares = [share for _, share in quarantine_projection(lifetime_years=2, growth_percent=0, years=4)]
    assert shares[0] == Decimal("50.0")
    assert shares[-1] == Decimal("100.0")


@pytest.mark.parametrize("kwargs, field, message", [
    ({"lifetime_years": 0, "growth_percent": 50}, "lifetime", ERR_LIFETIME),
    ({"lifetime_years": "abc", "growth_percent": 50}, "lifetime", ERR_LIFETIME),
    ({"lifetime_years": "NaN", "growth_percent": 50}, "lifetime", ERR_LIFETIME),
    ({"lifetime_years": 3, "growth_percent": -1}, "growth", ERR_GROWTH),
    ({"lifetime_years": 3, "growth_percent": "x"}, "lifetime", ERR_LIFETIME),
    ({"lifetime_years": 3, "growth_percent": 50, "years": 0}, "years", ERR_YEARS),
])
def test_bad_inputs_name_the_field(kwargs, field, message):
    with pytest.raises(ValidationError) as exc:
        quarantine_projection(**kwargs)
    assert exc.value.message_dict == {field: [message]}
