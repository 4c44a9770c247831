"""S3 exports admin pages."""
