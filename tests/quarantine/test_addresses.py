import pytest
from django.core.exceptions import ValidationError

from quarantine.addresses import BAD_EMAIL, BAD_PHONE, EMPTY_ADDRESS, email_domain, normalise


@pytest.mark.parametrize("given", ["Ann@Example.com", " ann@example.com ", "ANN@EXAMPLE.COM", "aNn@eXample.Com\t"])
def test_case_variants_of_one_email_are_one_address(given):
    assert normalise("email", given) == "ann@example.com"


def test_phone_numbers_become_e164():
    assert normalise("sms", "+33 6 12 34 56 78") == "+33612345678"
    assert normalise("sms", "+1 (415) 555-0132") == "+14155550132"


def test_a_national_number_needs_the_default_region(settings):
    settings.MKTOPS_DEFAULT_PHONE_REGION = None
    with pytest.raises(ValidationError) as exc:
        normalise("sms", "06 12 34 56 78")
    assert exc.value.message_dict == {"address": [BAD_PHONE]}
    settings.MKTOPS_DEFAULT_PHONE_REGION = "FR"
    assert normalise("sms", "06 12 34 56 78") == "+33612345678"


@pytest.mark.parametrize("given", ["not a number", "+", "+1 2"])
def test_an_unreadable_number_names_the_field_and_rule(given):
    with pytest.raises(ValidationError) as exc:
        normalise("sms", given)
    assert exc.value.message_dict == {"address": [BAD_PHONE]}


def test_push_tokens_are_kept_as_given_but_trimmed():
    assert normalise("push", "  AbC:123-xyz  ") == "AbC:123-xyz"


@pytest.mark.parametrize("channel, given, rule", [
    ("email", "", EMPTY_ADDRESS), ("push", "   ", EMPTY_ADDRESS), ("email", "no-at-sign", BAD_EMAIL),
    ("email", "@example.com", BAD_EMAIL), ("email", "ann@localhost", BAD_EMAIL),
])
def test_bad_addresses_are_refused(channel, given, rule):
    with pytest.raises(ValidationError) as exc:
        normalise(channel, given)
    assert exc.value.message_dict == {"address": [rule]}


def test_email_domain():
    assert email_domain("Ann@Mail.Example.COM") == "mail.example.com"
    assert email_domain("no-domain") == ""
