"""The business rules of S3 exports, called by the admin, the tasks and the tests alike.

- rules: field validation (`connection_validate`) and the error sentences;
- paths: object keys, manifests, bucket and KMS key policies;
- connections: save, pause, resume, delete, test, re-export, health;
- schedule: slots per frequency, run creation, the sweeper;
- runs: executing a run exactly once; records: the streamed JSON lines.
"""
