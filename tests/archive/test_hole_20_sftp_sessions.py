"""Issue 14 item 20: SFTP writes of a batch reuse SSH sessions (one login per writer thread, not
one per file), against a real sshd whose log counts the logins."""

import pytest

from archive.models import ArchivedMessage, Destination, Outcome
from archive.services.delivery import WRITE_THREADS
from mktops.jobs import JobStatus
from mktops.storage import sftp
from tests.archive.conftest import run_all, sms_sent_event
from tests.archive.test_destinations import use_sftp

pytestmark = pytest.mark.django_db

FILES = 12


def logins(server) -> int:
    return server.log().count("Accepted password for")


def test_a_batch_logs_in_once_per_writer_thread(archive_on, ingest, sftp_server):
    use_sftp(archive_on, sftp_server)
    ingest(*[sms_sent_event(i) for i in range(FILES)])
    run_all()
    rows = list(ArchivedMessage.objects.filter(tenant=archive_on))
    assert len(rows) == FILES and all(r.outcome == Outcome.STORED for r in rows)
    assert all(sftp_server.exists(r.key) for r in rows)
    assert 1 <= logins(sftp_server) <= WRITE_THREADS[Destination.SFTP]


def test_a_refused_login_is_tried_once_for_the_whole_batch(archive_on, ingest, sftp_server):
    use_sftp(archive_on, sftp_server, sftp_password="not-the-password")
    ingest(*[sms_sent_event(i) for i in range(4)])
    deliver_pending_once()
    rows = list(ArchivedMessage.objects.filter(tenant=archive_on))
    assert all(r.status == JobStatus.RETRYING and r.failure_reason == "auth_failed" for r in rows)
    assert sftp_server.log().count("Failed password for") <= WRITE_THREADS[Destination.SFTP]


def deliver_pending_once():
    from archive.services.delivery import archived_messages_deliver

    archived_messages_deliver(pks=list(ArchivedMessage.objects.filter(status="pending").values_list("pk", flat=True)))


def test_the_pool_reuses_one_session_also_after_a_refused_folder(sftp_server):
    sftp_server.mkdir("locked", 0o555)
    pool = sftp.SessionPool(sftp_server.target())
    try:
        for i in range(5):
            pool.put_file(f"day/{i}.json", b"{}")
        with pytest.raises(sftp.SftpError) as failed:
            pool.put_file("locked/x.json", b"{}")
        assert failed.value.reason == sftp.SftpError.PERMISSION_DENIED
        pool.put_file("day/after.json", b"{}")
        assert pool.opened == 1 and logins(sftp_server) == 1
    finally:
        pool.close()
    assert sftp_server.files() == sorted([*(f"day/{i}.json" for i in range(5)), "day/after.json"])


def test_outside_a_batch_a_write_still_logs_in_and_out(sftp_server):
    sftp.put_file(sftp_server.target(), "single.json", b"{}")
    assert sftp_server.read("single.json") == b"{}" and logins(sftp_server) == 1
