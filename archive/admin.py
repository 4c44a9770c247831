"""Message archive admin pages: settings per tenant, the archive search with View/Download,
the access log. Thin: parse, check the role, call archive.services, render."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.dateparse import parse_date
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.views.decorators.debug import sensitive_post_parameters

from archive.models import ArchiveAccessLog, ArchivedMessage, ArchiveSettings, Destination, Manifest, Outcome
from archive.services import config, manifest, reading, repair, retention
from archive.services.paths import ATTRIBUTES, DEFAULT_TEMPLATES
from mktops import clock, roles
from mktops.admin_base import CHANGE, CSM, VIEW, TenantScopedAdmin, object_view
from mktops.crypto import mask
from mktops.forms import WriteOnlyTextarea
from mktops.models import Contact, Role

SECRET_FIELDS = ("sftp_password", "sftp_private_key")
ERR_SEARCH_DATE = "{field}: {value!r} is not a date (YYYY-MM-DD)."


# --- settings ---------------------------------------------------------------------------
class ArchiveSettingsForm(forms.ModelForm):
    """Secrets are write-only: never sent to the browser; left blank, the stored value stays."""

    class Meta:
        model = ArchiveSettings
        fields = ("tenant", "destination", "s3_bucket", "s3_bucket_arn", "s3_region", "s3_folder", "s3_kms_key_arn",
                  "sftp_host", "sftp_port", "sftp_username", "sftp_password", "sftp_private_key",
                  "sftp_host_key_fingerprint", "sftp_folder", "path_template_email", "path_template_sms",
                  "path_template_push", "retention_rule", "object_lock_mode", "object_lock_days")
        widgets = {
            "sftp_password": forms.PasswordInput(render_value=False),
            # write-only: the page never carries the key, stored or just posted (a form with errors)
            "sftp_private_key": WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "destination" in self.fields and config.platform_store_is_local():
            # the demo: the choice says what the platform's store is here
            self.fields["destination"].choices = [
                (value, config.PLATFORM_LOCAL_CHOICE if value == Destination.PLATFORM else label)
                for value, label in self.fields["destination"].choices]
        for name in SECRET_FIELDS:
            if name in self.fields:
                self.initial[name] = ""
                current = getattr(self.instance, name, "")
                self.fields[name].help_text = (f"Set ({mask(current)}); leave blank to keep it." if current
                                               else "Not set.")

    def clean(self):
        data = super().clean()
        for name in SECRET_FIELDS:
            if name in self.fields and not data.get(name):
                setattr(self.instance, name, getattr(self.instance, name, ""))
                data[name] = getattr(self.instance, name, "")
        return data

    by_csm = False  # set by ArchiveSettingsAdmin.get_form

    def _refuse_locked_posts(self, before):
        """A locked field is shown read-only, so Django would drop a posted change and report
        success: a change posted anyway is refused with the reason instead."""
        if before is None or before.locked_at is None:
            return
        for name in config.LOCKED_FIELDS:
            if name in self.data and name not in self.fields and str(self.data[name]) != str(getattr(before, name)):
                rule = config.ERR_LOCK_CSM if name in config.LOCK_SETTING_FIELDS else config.ERR_LOCKED
                label = ArchiveSettings._meta.get_field(name).verbose_name
                self.add_error(None, rule.format(field=label, when=before.locked_at))

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        before = ArchiveSettings.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        self._refuse_locked_posts(before)
        try:
            config.archive_settings_validate(cfg=self.instance, before=before, by_csm=self.by_csm)
        except ValidationError as exc:
            # a rule on a field the form does not show (locked, or a secret hidden) goes on top
            for name, field_messages in exc.message_dict.items():
                for message in field_messages:
                    self.add_error(name if name in self.fields else None, message)


@admin.register(ArchiveSettings)
class ArchiveSettingsAdmin(TenantScopedAdmin):
    form = ArchiveSettingsForm
    secret_fields = SECRET_FIELDS
    list_display = ("tenant", "destination", "locked_at", "last_test_ok", "last_test_at")
    list_filter = ("tenant", "destination")
    change_form_template = "admin/archive/archivesettings/change_form.html"
    info_fields = ("archive_status", "lock_status", "connection_status", "retention_status", "last_failures",
                   "channels_table")
    readonly_fields = ("bucket_policy", "path_help", "platform_store", *info_fields)
    # each destination's fields are in fieldsets classed archive-dest-<destination>: the page shows
    # those of the destination chosen (the select switches them), and once locked only those
    base_fieldsets = (
        (None, {"fields": ("tenant", "destination")}),
        ("Status", {"fields": info_fields}),
        ("The platform's store", {"classes": ("archive-dest", "archive-dest-platform"),
                                  "fields": ("platform_store",)}),
        ("The tenant's own S3 bucket", {"classes": ("archive-dest", "archive-dest-s3"),
                                        "fields": ("s3_bucket", "s3_bucket_arn", "s3_region", "s3_folder",
                                                   "s3_kms_key_arn", "bucket_policy")}),
        ("The tenant's SFTP server", {"classes": ("archive-dest", "archive-dest-sftp"),
                                      "fields": ("sftp_host", "sftp_port", "sftp_username", "sftp_password",
                                                 "sftp_private_key", "sftp_host_key_fingerprint",
                                                 "sftp_folder")}),
        ("File paths", {"classes": ("archive-dest", "archive-dest-s3", "archive-dest-sftp"),
                        "fields": ("path_template_email", "path_template_sms", "path_template_push", "path_help")}),
        ("Retention", {"fields": ("retention_rule",)}),
        ("Write-once storage (S3 Object Lock)", {"classes": ("archive-dest", "archive-dest-platform",
                                                             "archive-dest-s3"),
                                                 "fields": ("object_lock_mode", "object_lock_days")}),
    )

    def get_fieldsets(self, request, obj=None):
        hidden = () if self._may_see_secrets(request, obj) else self.secret_fields
        sets = [(title, {**opts, "fields": tuple(f for f in opts["fields"] if f not in hidden)})
                for title, opts in self.base_fieldsets]
        if config.platform_store_is_local():
            # the demo's local folder has no Object Lock: the write-once fields are for buckets only
            sets = [(title, {**opts, "classes": tuple(c for c in opts["classes"] if c != "archive-dest-platform")})
                    if "object_lock_mode" in opts["fields"] else (title, opts) for title, opts in sets]
        if obj is not None and obj.locked_at is not None:
            # locked: the other destinations' fields are not even sent
            sets = [(title, opts) for title, opts in sets
                    if "archive-dest" not in opts.get("classes", ()) or f"archive-dest-{obj.destination}"
                    in opts["classes"]]
        return sets

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields.append("tenant")
            if obj.locked_at is not None:
                # after the lock only a CSM changes the write-once storage settings (audited)
                csm = roles.is_csm(request.user)
                fields += [f for f in config.LOCKED_FIELDS if not (csm and f in config.LOCK_SETTING_FIELDS)]
        return fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.by_csm = roles.is_csm(request.user)
        return form

    # --- deleting: only a CSM, only for a tenant that never archived anything -------------------
    def has_delete_permission(self, request, obj=None):
        if not roles.is_csm(request.user):
            return False
        return obj is None or not config.tenant_has_archived(tenant_id=obj.tenant_id)

    def delete_model(self, request, obj):
        config.archive_settings_delete(cfg=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for cfg in queryset.select_related("tenant"):
            try:
                config.archive_settings_delete(cfg=cfg, by=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)

    change_list_template = "admin/archive/archivesettings/change_list.html"
    NOT_SET_UP_SHOWN = 50

    def changelist_view(self, request, extra_context=None):
        # a GET writes nothing: tenants without settings are listed with a link to the
        # add form, and the operator's Save creates the row (until then messages go to
        # the platform bucket with the default paths, as the page says)
        missing = self.visible_tenants(request).exclude(
            pk__in=ArchiveSettings.objects.values("tenant_id")).order_by("name")[:self.NOT_SET_UP_SHOWN]
        add_url = reverse("admin:archive_archivesettings_add")
        # a tenant that has archived never gets a new, unlocked row from this page
        not_set_up = [(t, f"{add_url}?tenant={t.pk}" if roles.is_operator_of(request.user, t.pk)
                       and not config.tenant_has_archived(tenant_id=t.pk) else "") for t in missing]
        return super().changelist_view(request, {**(extra_context or {}), "not_set_up": not_set_up})

    @method_decorator(sensitive_post_parameters(*SECRET_FIELDS))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        config.archive_settings_save(cfg=obj, by=request.user)

    # --- read-only panels ---------------------------------------------------------
    @admin.display(description="bucket policy to paste")
    def bucket_policy(self, obj):
        policy = config.bucket_policy(bucket=obj.s3_bucket if obj else "",
                                      external_id=obj.tenant.external_id if obj and obj.tenant_id else "")
        return format_html("<pre id='bucket-policy'>{}</pre>", policy)

    @admin.display(description="attributes")
    def path_help(self, obj):
        defaults = format_html_join("", "<li><code>{}</code>: <code>{}</code></li>",
                                    ((k, v.replace("{platform}", "android")) for k, v in DEFAULT_TEMPLATES.items()))
        return format_html("Use {} and at least <code>{{{{id}}}}</code>. Blank uses the default:<ul>{}</ul>",
                           ", ".join("{{" + a + "}}" for a in ATTRIBUTES), defaults)

    @admin.display(description="where the files go")
    def platform_store(self, obj):
        return format_html("<span id='platform-store'>{}</span>", config.platform_store_words())

    @admin.display(description="destination lock")
    def lock_status(self, obj):
        if obj is None or obj.pk is None:
            return "Not confirmed: nothing is written until an operator confirms the destination."
        if obj.locked_at is None:
            waiting = config.waiting_for_destination(tenant_id=obj.tenant_id).count()
            return format_html("<span id='lock-status'>Not confirmed: nothing is written until an operator "
                               "confirms the destination (Confirm destination, below); {} message(s) waiting "
                               "for a destination.</span>", waiting)
        return format_html("<span id='lock-status'>Locked since {} UTC, when an operator confirmed the "
                           "destination: it can no longer be changed.</span>",
                           obj.locked_at.strftime("%Y-%m-%d %H:%M"))

    @admin.display(description="last connection test")
    def connection_status(self, obj):
        if obj is None or obj.last_test_at is None:
            return "Never tested."
        verdict = "Succeeded" if obj.last_test_ok else "Failed"
        return format_html("<span id='connection-status'>{} at {} UTC: {}</span>", verdict,
                           obj.last_test_at.strftime("%Y-%m-%d %H:%M"), obj.last_test_message)

    @admin.display(description="file retention")
    def retention_status(self, obj):
        if obj is None or not obj.tenant_id:
            return "—"
        minimum = retention.minimum_words(cfg=obj)
        if obj.destination != Destination.PLATFORM:
            # the tenant's bucket or server decides; what it says is read, never set by us
            said = obj.lifecycle_message or retention.MSG_NOT_CHECKED.get(obj.destination, "")
            shape = ("<span id='retention-status' class='errornote'>{}</span> {}" if retention.WARNING_MARK in said
                     else "<span id='retention-status'>{}</span> {}")
            return format_html(shape, said, minimum)
        warnings = [w for w in (config.retention_warning(tenant=obj.tenant),
                                retention.platform_retention_warning(cfg=obj)) if w]
        rule = obj.lifecycle_message or "The retention rule has not been applied yet."
        return format_html("{} days. {} {}{}", obj.tenant.archive_file_retention_days, rule, minimum,
                           format_html_join("", "<p class='errornote' id='retention-warning'>{}</p>",
                                            ((w,) for w in warnings)))

    @admin.display(description="last failures")
    def last_failures(self, obj):
        rows = repair.last_failures(tenant=obj.tenant) if obj else []
        if not rows:
            return "None."
        return format_html("<table id='last-failures'>{}</table>", format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((r.last_attempt_at.strftime("%Y-%m-%d %H:%M") if r.last_attempt_at else "", r.event_name,
              _state_words(r)) for r in rows)))

    @admin.display(description="channels")
    def channels_table(self, obj):
        if obj is None or not obj.tenant_id:
            return "—"
        return format_html("<table id='channels-table'>{}</table>", format_html_join(
            "", "<tr><td>{}</td><td>{}</td></tr>", config.archive_channels(tenant=obj.tenant)))

    @admin.display(description="message archive")
    def archive_status(self, obj):
        if obj is None or not obj.tenant_id:
            return "—"
        return format_html("<span id='archive-status'>{}</span>", config.archive_state(tenant=obj.tenant))

    # --- buttons ---------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/test-connection/", view(self.test_connection_view),
                 name="archive_archivesettings_test"),
            path("<path:object_id>/apply-retention/", view(self.apply_retention_view),
                 name="archive_archivesettings_retention"),
            path("<path:object_id>/redeliver-all/", view(self.redeliver_all_view),
                 name="archive_archivesettings_redeliver_all"),
            path("<path:object_id>/confirm-destination/", view(self.confirm_destination_view),
                 name="archive_archivesettings_confirm"),
            path("<path:object_id>/completeness/", view(self.completeness_view),
                 name="archive_archivesettings_completeness"),
            path("<path:object_id>/manifests/", view(self.manifests_view),
                 name="archive_archivesettings_manifests"),
            *super().get_urls(),
        ]

    def _back(self, obj, name="change"):
        return HttpResponseRedirect(reverse(f"admin:archive_archivesettings_{name}", args=[obj.pk]))

    @object_view(level=CHANGE)
    def confirm_destination_view(self, request, obj):
        """The confirmation step: what will be locked, said to be final; POST locks it."""
        error = ""
        if request.method == "POST":
            try:
                config.archive_destination_confirm(cfg=obj, by=request.user,
                                                   acknowledged=request.POST.get("acknowledge") == "final")
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                self.log_change(request, obj, "Destination confirmed and locked.")
                self.message_user(request, "The destination is confirmed and locked; messages waiting for it "
                                           "are being written.", messages.SUCCESS)
                return self._back(obj)
        return TemplateResponse(request, "admin/archive/archivesettings/confirm_destination.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "original": obj,
            "title": f"Confirm the archive destination — {obj.tenant}", "error": error,
            "may_confirm": roles.role_for(request.user, obj.tenant_id) == Role.OPERATOR,
            "summary": config.locked_summary(cfg=obj),
            "waiting": config.waiting_for_destination(tenant_id=obj.tenant_id).count(),
        }, status=400 if error else 200)

    @object_view(level=CHANGE, post_only=True)
    def test_connection_view(self, request, obj):
        result = config.archive_connection_test(cfg=obj, by=request.user)
        self.log_change(request, obj, f"Connection test: {result.message}")
        self.message_user(request, result.message, messages.SUCCESS if result.ok else messages.ERROR)
        return self._back(obj)

    @object_view(level=CHANGE, post_only=True)
    def apply_retention_view(self, request, obj):
        ok, message = config.archive_lifecycle_apply(tenant=obj.tenant)
        self.log_change(request, obj, f"File retention rule: {message}")
        self.message_user(request, message, messages.SUCCESS if ok else messages.ERROR)
        return self._back(obj)

    @object_view(level=CSM, post_only=True)
    def redeliver_all_view(self, request, obj):
        ids = repair.archived_messages_redeliver_all(tenant=obj.tenant, by=request.user)
        _enqueue(ids)
        self.log_change(request, obj, f"Re-delivery of {len(ids)} message(s) not delivered requested.")
        self.message_user(request, f"Re-delivering {len(ids)} message(s) to the tenant's destination.")
        return self._back(obj)

    @object_view(level=VIEW)
    def completeness_view(self, request, obj):
        today = clock.now().date()
        day_from = parse_date(request.GET.get("from", "")) or today - timedelta(days=6)
        day_to = parse_date(request.GET.get("to", "")) or today
        if request.method == "POST":
            self.require_level(request, obj, CSM)
            result = repair.completeness_redrive(tenant=obj.tenant, day_from=day_from, day_to=day_to,
                                                 by=request.user)
            _enqueue(_pending_ids(obj.tenant))
            self.log_change(request, obj, "Re-drive {day_from} to {day_to}: {created} missing row(s) created, "
                                          "{redelivered} held message(s) re-queued.".format(
                                              day_from=day_from, day_to=day_to, **result))
            self.message_user(request, "Re-drive: {created} missing row(s) created, {redelivered} held "
                                       "message(s) re-queued.".format(**result))
            return HttpResponseRedirect(request.get_full_path())
        report = repair.completeness_report(tenant=obj.tenant, day_from=day_from, day_to=day_to)
        failures = repair.completeness_failures(tenant=obj.tenant, day_from=day_from, day_to=day_to)
        return TemplateResponse(request, "admin/archive/archivesettings/completeness.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "original": obj,
            "title": f"Archive completeness — {obj.tenant}", "report": report, "day_from": day_from,
            "day_to": day_to, "may_redrive": roles.is_csm(request.user),
            "failures": _failure_rows(obj.tenant, failures), "failures_shown": repair.FAILURES_SHOWN,
        })

    # the manifests list every stored key: operators and CSMs, not support
    @object_view(level=CHANGE)
    def manifests_view(self, request, obj):
        if request.method == "POST":
            item = Manifest.objects.filter(tenant=obj.tenant, pk=request.POST.get("manifest")).first()
            if item is None:
                raise Http404("No such manifest.")
            ok, text = manifest.manifest_verify(manifest=item, by=request.user)
            self.message_user(request, text, messages.SUCCESS if ok else messages.ERROR)
            return HttpResponseRedirect(request.path)
        return TemplateResponse(request, "admin/archive/archivesettings/manifests.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "original": obj,
            "title": f"Archive manifests — {obj.tenant}",
            "manifests": Manifest.objects.filter(tenant=obj.tenant)[:60],
        })

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update({
            "may_test": obj is not None and self.has_change_permission(request, obj),
            "is_csm": roles.is_csm(request.user),
            "retention_button": retention.BUTTON.get(obj.destination if obj else "", ""),
            "may_see_manifests": obj is not None and roles.is_operator_of(request.user, obj.tenant_id),
            "may_confirm": obj is not None and obj.locked_at is None
            and roles.role_for(request.user, obj.tenant_id) == Role.OPERATOR,
        })
        return super().render_change_form(request, context, add, change, form_url, obj)


def _pending_ids(tenant) -> list[int]:
    return list(ArchivedMessage.objects.filter(tenant=tenant, status="pending").values_list("pk", flat=True))


def _enqueue(ids: list[int]) -> None:
    from mktops.jobs import enqueue

    for start in range(0, len(ids), 200):
        enqueue("archive.tasks.deliver", ids[start:start + 200])


def _failure_rows(tenant, failures: list[ArchivedMessage]) -> list[dict]:
    """Each failed message with links to its page and to its contact (while the contact exists)."""
    contacts = dict(Contact.objects.filter(tenant=tenant, uid__in={m.contact_uid for m in failures})
                    .values_list("uid", "pk"))
    return [{"message": m, "state": _state_words(m),
             "message_url": reverse("admin:archive_archivedmessage_message", args=[m.pk]),
             "contact_url": reverse("admin:mktops_contact_change", args=[contacts[m.contact_uid]])
             if m.contact_uid in contacts else ""} for m in failures]


def _back_links(request, obj: ArchivedMessage) -> dict:
    """The message page's way back: the contact's profile (while the contact exists) and the archive
    search for this contact."""
    contact = Contact.objects.filter(tenant_id=obj.tenant_id, uid=obj.contact_uid).only("pk").first()
    search = reverse("admin:archive_archivedmessage_changelist")
    query = urlencode({"contact_uid": obj.contact_uid, "tenant__id__exact": obj.tenant_id})
    return {"contact_url": reverse("admin:mktops_contact_change", args=[contact.pk]) if contact else "",
            "search_url": f"{search}?{query}"}


def _state_words(row: ArchivedMessage) -> str:
    if row.outcome == Outcome.QUEUED and row.failure_reason == config.WAITING_REASON:
        return (f"waiting for a destination: kept internally until {row.held_until:%Y-%m-%d}, written once an "
                "operator confirms the destination" if row.held_until else "waiting for a destination")
    if row.outcome == Outcome.HELD and row.held_until:
        return f"not delivered, kept internally until {row.held_until:%Y-%m-%d} — {row.last_error}"
    if row.outcome == Outcome.SKIPPED:
        return f"not archived: {row.get_skip_reason_display()}"
    if row.status == "retrying":
        return f"retrying at {row.next_attempt_at:%Y-%m-%d %H:%M} UTC — {row.last_error}"
    return row.get_outcome_display() + (f" — {row.last_error}" if row.last_error else "")


# --- the archive search: messages, View and Download ---------------------------------------------
class ArchivedMessageAdmin(TenantScopedAdmin):
    read_only = True
    list_display = ("event_time", "event_name", "contact_uid", "campaign_id", "message_id", "state", "tenant", "links")
    list_filter = ("tenant", "channel", "outcome", "skip_reason")
    # the tenant's settings too: an SFTP row's reason names its path under the SFTP folder
    list_select_related = ("tenant", "tenant__archive_settings")
    search_fields = ("=contact_uid", "=campaign_id", "=message_id")
    search_help_text = "Exact contact uid, campaign id, message id, email address or phone number."
    show_full_result_count = False
    change_list_template = "admin/archive/archivedmessage/change_list.html"
    actions = ["redeliver_selected", "retry_now_selected"]
    fields = ("tenant", "message_id", "event_name", "event_uuid", "contact_uid", "campaign_id", "event_time",
              "state", "destination", "key", "sha256", "size", "stripped_attachments", "attempts",
              "first_attempt_at", "last_attempt_at", "last_error", "links")
    readonly_fields = fields

    @admin.display(description="state")
    def state(self, obj):
        return _state_words(obj)

    @admin.display(description="message")
    def links(self, obj):
        cfg = getattr(obj.tenant, "archive_settings", None)  # fetched with the row on the list
        reason = reading.archived_message_unavailable(message=obj, sftp_folder=cfg.sftp_folder if cfg else "")
        if reason:
            return format_html("<span title='{}'>—</span>", reason)
        return format_html('<a href="{}">View</a> · <a href="{}" download>Download</a>',
                           reverse("admin:archive_archivedmessage_message", args=[obj.pk]),
                           reverse("admin:archive_archivedmessage_download", args=[obj.pk]))

    SEARCH_PARAMS = ("contact_uid", "campaign_id", "event_time__date__gte", "event_time__date__lte")

    def get_search_results(self, request, queryset, search_term):
        # exact matches on indexed columns only; an email address or a phone number finds the
        # messages sent to it and those of the contacts who have it now
        term = search_term.strip()
        if not term:
            return super().get_search_results(request, queryset, search_term)
        condition = Q(contact_uid=term) | Q(campaign_id=term) | Q(message_id=term)
        condition |= reading.address_condition(term=term, tenants=self.visible_tenants(request))
        return self.scope(request, queryset.filter(condition)), False

    def changelist_view(self, request, extra_context=None):
        # the search form sends every box; drop the empty ones so they filter nothing
        empty = [name for name in self.SEARCH_PARAMS if name in request.GET and not request.GET[name].strip()]
        if empty:
            query = request.GET.copy()
            for name in empty:
                del query[name]
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
        for name, label in (("event_time__date__gte", "sent from"), ("event_time__date__lte", "to")):
            if name in request.GET and parse_date(request.GET[name]) is None:
                self.message_user(request, ERR_SEARCH_DATE.format(field=label, value=request.GET[name]),
                                  messages.ERROR)
                query = request.GET.copy()
                del query[name]
                return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
        return super().changelist_view(request, extra_context)

    def lookup_allowed(self, lookup, value, request=None):
        if lookup in ("event_time__date__gte", "event_time__date__lte"):
            return True
        return super().lookup_allowed(lookup, value, request)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not roles.is_csm(request.user):
            actions.pop("redeliver_selected", None)
        if not (roles.is_csm(request.user) or roles.operates_any(request.user)):
            actions.pop("retry_now_selected", None)
        return actions

    @admin.action(description="Retry selected messages now (those waiting for a retry or queued)")
    def retry_now_selected(self, request, queryset):
        ids = repair.archived_messages_retry_now(messages=queryset.select_related("tenant"), by=request.user)
        for message in queryset.filter(pk__in=ids):
            self.log_change(request, message, "Retry now requested.")
        self.message_user(request, f"Retrying {len(ids)} message(s) now.")

    @admin.action(description="Re-deliver selected messages to the tenant's destination")
    def redeliver_selected(self, request, queryset):
        if not roles.is_csm(request.user):
            raise PermissionDenied
        done = []
        for message in queryset.filter(outcome=Outcome.HELD):
            try:
                repair.archived_message_redeliver(message=message, by=request.user)
                self.log_change(request, message, "Re-delivery to the tenant's destination requested.")
                done.append(message.pk)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)
        _enqueue(done)
        self.message_user(request, f"Re-delivering {len(done)} message(s).")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/message/", view(self.message_view), name="archive_archivedmessage_message"),
            path("<path:object_id>/message/body/", view(self.body_view), name="archive_archivedmessage_body"),
            path("<path:object_id>/download/", view(self.download_view), name="archive_archivedmessage_download"),
            path("<path:object_id>/redeliver/", view(self.redeliver_view),
                 name="archive_archivedmessage_redeliver"),
            path("<path:object_id>/retry-now/", view(self.retry_now_view),
                 name="archive_archivedmessage_retry_now"),
            *super().get_urls(),
        ]

    def _read(self, request, obj, action):
        try:
            return reading.archived_message_read(message=obj, user=request.user, action=action), None
        except reading.ArchiveReadError as exc:
            return None, str(exc)

    @object_view(level=VIEW)
    def message_view(self, request, obj):
        read, error = self._read(request, obj, reading.ACTION_VIEW)
        data = read.data if read else None
        context = {**self.admin_site.each_context(request), "opts": self.opts, "original": obj,
                   "title": f"{obj.event_name} to {obj.contact_uid}", "message": obj, "error": error,
                   "state": _state_words(obj),
                   "can_retry_now": obj.status in ("retrying", "pending") and (
                       roles.is_csm(request.user) or roles.is_operator_of(request.user, obj.tenant_id))}
        context.update(_back_links(request, obj))
        if read is not None:
            context["integrity_warning"] = read.warning
            if read.raw:
                context["raw_note"] = reading.RAW_KEPT.format(reason=obj.last_error)
        if data is not None and obj.channel == "email" and not read.raw:
            context["email"] = reading.email_view(data)
        elif data is not None:
            context["fields"] = reading.json_view(data)
        return TemplateResponse(request, "admin/archive/archivedmessage/message.html", context,
                                status=200 if error is None else 409)

    @object_view(level=VIEW)
    def body_view(self, request, obj):
        """The email's HTML alone, for the sandboxed frame: no scripts, nothing fetched, links inert."""
        read, error = self._read(request, obj, reading.ACTION_VIEW_BODY)
        if error:
            return HttpResponse(error, status=409, content_type="text/plain")
        if read.raw:
            return HttpResponse(read.data, content_type="text/plain; charset=utf-8")
        view = reading.email_view(read.data)
        response = HttpResponse(view.html or format_html("<pre>{}</pre>", view.text))
        response["Content-Security-Policy"] = reading.BODY_CSP
        response["X-Frame-Options"] = "SAMEORIGIN"
        return response

    @object_view(level=VIEW)
    def download_view(self, request, obj):
        read, error = self._read(request, obj, reading.ACTION_DOWNLOAD)
        if error:
            return HttpResponse(error, status=409, content_type="text/plain")
        email_file = obj.channel == "email" and not read.raw
        response = HttpResponse(read.data, content_type="message/rfc822" if email_file else "application/json")
        name = reading.download_name(obj)
        if read.raw:
            name = name.rsplit(".", 1)[0] + ".as-received.json"
        if read.intact is False:
            # a download cannot carry a page's warning: the file's name and a header say it
            name = f"INTEGRITY-MISMATCH-{name}"
            response["X-Archive-Integrity"] = "mismatch"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    @object_view(level=CSM, post_only=True)
    def redeliver_view(self, request, obj):
        try:
            repair.archived_message_redeliver(message=obj, by=request.user)
            _enqueue([obj.pk])
            self.log_change(request, obj, "Re-delivery to the tenant's destination requested.")
            self.message_user(request, "Re-delivering the message to the tenant's destination.")
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:archive_archivedmessage_change", args=[obj.pk]))


    @object_view(level=VIEW, post_only=True)
    def retry_now_view(self, request, obj):
        # support gets 403 from the service; another tenant's row was a 404 already
        if repair.archived_messages_retry_now(messages=[obj], by=request.user):
            self.log_change(request, obj, "Retry now requested.")
            self.message_user(request, "Retrying the message now.")
        else:
            self.message_user(request, "The message is not waiting for a retry.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:archive_archivedmessage_message", args=[obj.pk]))


admin.site.register(ArchivedMessage, ArchivedMessageAdmin)


# --- the access log ----------------------------------------------------------------------------------
@admin.register(ArchiveAccessLog)
class ArchiveAccessLogAdmin(TenantScopedAdmin):
    read_only = True
    view_roles = (Role.OPERATOR, Role.CSM)
    list_display = ("at", "user", "action", "tenant", "message", "contact_uid")
    list_filter = ("action", "tenant")
    list_select_related = ("user", "tenant")
    show_full_result_count = False

    def get_queryset(self, request):
        qs = super().get_queryset(request).filter(action__in=(*reading.ACCESS_ACTIONS, reading.ACTION_INTEGRITY))
        if roles.is_csm(request.user):
            return qs
        return qs.filter(tenant__in=roles.tenant_ids(request.user, (Role.OPERATOR,)))

    @admin.display(description="message")
    def message(self, obj):
        return obj.detail.get("message_id", obj.object_id)

    @admin.display(description="contact")
    def contact_uid(self, obj):
        return obj.detail.get("contact_uid", "")
