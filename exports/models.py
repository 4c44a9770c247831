"""S3 exports models."""
