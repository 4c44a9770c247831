"""The message archive's rules, in small modules:

- intake: sent events → ArchivedMessage rows (queued or skipped with a reason)
- delivery: one attempt per due row, retries as data, the internal store
- destinations: platform bucket / local folder, tenant S3, tenant SFTP; failures in words
- render, paths: what is stored and under which name
- config: settings validation, the lock, bucket policy, Test connection, retention rule
- reading: View and Download with the access log
- repair: re-delivery, purge, last failures, completeness report
- manifest: daily tamper-evident manifests and Verify
"""
