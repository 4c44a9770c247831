import random

import pytest
from django.core.exceptions import ValidationError

from quarantine.addresses import (
    BAD_EMAIL,
    BAD_PHONE,
    EMPTY_ADDRESS,
    MAX_ADDRESS,
    all_already_normal,
    already_normal,
    email_domain,
    normalise,
)


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


# already_normal is the analysis's shortcut: true only where normalise() keeps the address as is
SHORTCUT_CASES = [
    "ann@example.com", "a.b+c_d%e-f@mail.example.co.uk", "x@y.z", "1@2.3", "a@b-c.d", "ann@-x.com",
    "Ann@example.com", " ann@example.com", "ann@example.com ", "ann@example.com\n", "ann@localhost",
    "@example.com", "ann@", "ann@.com", "ann@example.", "ann@example..com", "a@b@c.com", "ann @x.com",
    "änn@example.com", "ann@exämple.com", "ann@example.com\x00", "", " ", "\t", "AbC:123-xyz", " tok ",
    "tok\n", "tok\x00", "İ@example.com", "ﬃ@example.com", "ann@example.com" + "m" * 500,
    "a" * 500 + "@example.com",
]


@pytest.mark.parametrize("channel", ["email", "push"])
@pytest.mark.parametrize("given", SHORTCUT_CASES)
def test_already_normal_only_where_normalise_keeps_the_address(channel, given):
    try:
        kept = normalise(channel, given) == given
    except ValidationError:
        kept = False
    taken = already_normal(channel)(given) and len(given) <= MAX_ADDRESS
    assert kept or not taken, given
    assert not (taken and "\x00" in given)  # the analysis rejects NUL after the shortcut


def test_already_normal_agrees_with_normalise_on_random_addresses():
    rng = random.Random(16)
    alphabet = "ab@.-_+%Z9 \t\nä\u0130\ufb03" + "abc" * 5
    taken = 0
    for _ in range(20_000):
        def part(most):
            return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, most)))
        # mostly shaped like an email (name @ domain . tld), with any of the characters anywhere
        given = f"{part(4)}@{part(4)}.{part(3)}" if rng.random() < 0.8 else part(12)
        for channel in ("email", "push"):
            try:
                kept = normalise(channel, given) == given
            except ValidationError:
                kept = False
            shortcut = already_normal(channel)(given)
            assert kept or not shortcut, (channel, given)
            taken += bool(shortcut) and channel == "email"
    assert taken > 100  # the sample reaches the shortcut, not only the slow path


def test_the_shortcut_takes_the_common_addresses_and_leaves_phone_numbers_to_phonenumbers():
    assert already_normal("email")("ann@example.com")
    assert already_normal("push")("AbC:123-xyz")
    assert not already_normal("email")("Ann@example.com")
    assert already_normal("sms") is None


@pytest.mark.parametrize("channel", ["email", "push"])
def test_a_list_is_normal_only_when_each_of_its_addresses_is(channel):
    rng = random.Random(16)
    one = already_normal(channel)
    whole = all_already_normal(channel)
    for _ in range(3_000):
        addresses = [f"n{k}@example.com" for k in range(rng.randint(1, 6))]
        if rng.random() < 0.7:
            addresses[rng.randrange(len(addresses))] = rng.choice(SHORTCUT_CASES + [7, None, "a@b.co\nc@d.com"])
        each = all(type(a) is str and len(a) <= MAX_ADDRESS and one(a) for a in addresses)
        assert whole(addresses) == bool(each), addresses
    assert not whole([]) and all_already_normal("sms") is None
