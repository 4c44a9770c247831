"""Test connection installs the rule that aborts our abandoned multipart uploads on the tenant's
bucket, under the connection's own prefixes, keeping the tenant's rules; the policy shown grants it."""

import json

from exports.services import connections, paths


def _rules(s3, bucket):
    return {r["ID"]: r for r in s3.boto3().get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}


def test_test_connection_installs_the_abort_rule_under_our_prefixes(make_connection, s3, bucket):
    s3.boto3().put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "tenants-own", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 9}}]})
    connection = make_connection(folder_path="f")
    outcome = connections.connection_test(connection=connection)
    assert outcome.ok, outcome.message
    rules = _rules(s3, bucket)
    assert rules["tenants-own"]["Expiration"] == {"Days": 9}
    aborts = {r["Filter"]["Prefix"]: r["AbortIncompleteMultipartUpload"] for r in rules.values()
              if "AbortIncompleteMultipartUpload" in r}
    assert aborts == {"f_warehouse/": {"DaysAfterInitiation": 1}, "f_backfill_warehouse/": {"DaysAfterInitiation": 1}}
    assert "f_warehouse/ and f_backfill_warehouse/" in outcome.message


def test_the_policy_shown_grants_the_lifecycle_rule(make_connection):
    policy = json.dumps(paths.connection_bucket_policy(make_connection()))
    assert "s3:PutLifecycleConfiguration" in policy and "s3:GetLifecycleConfiguration" in policy
