"""Issue 12 item 12: the periodic jobs exist after `migrate`; a missing one is reported by the
system check mktops.W005 and on the admin index to a CSM."""

import pytest
from django.conf import settings
from django.core import checks
from django.core.management import call_command
from django_q.models import Schedule

from mktops import schedules
from mktops.admin_site import MSG_SCHEDULES_MISSING

pytestmark = pytest.mark.django_db


def _w005():
    return [m for m in checks.run_checks(databases=["default"]) if m.id == "mktops.W005"]


def test_migrate_installs_every_registered_schedule():
    # the test database was made by migrate: nothing else wrote the schedules
    names = {job.name for job in schedules.registered()}
    assert names <= set(Schedule.objects.values_list("name", flat=True))
    assert schedules.not_installed() == [] and _w005() == []
    Schedule.objects.all().delete()
    call_command("migrate", verbosity=0)  # nothing to migrate: post_migrate still installs them
    assert schedules.not_installed() == []


def test_a_missing_or_changed_schedule_is_reported_by_the_check_and_to_a_csm(as_csm, as_operator_a):
    Schedule.objects.filter(name="exports.sweep").delete()
    Schedule.objects.filter(name="archive.daily").update(minutes=5)
    (warning,) = _w005()
    assert "exports.sweep" in warning.msg and "archive.daily" in warning.msg
    missing = schedules.not_installed()
    assert set(missing) == {"exports.sweep", "archive.daily"}
    page = as_csm.get("/admin/").content.decode()
    assert MSG_SCHEDULES_MISSING.format(names=", ".join(missing)) in page
    assert "mktops.W005" not in as_operator_a.get("/admin/").content.decode()
    schedules.install()
    assert _w005() == []


def test_missed_slots_are_not_replayed():
    # after downtime the sweepers pick up what is due in one run; replaying each slot adds only load
    assert settings.Q_CLUSTER["catch_up"] is False
