"""Pure logic: no boto3, no files, no clocks (they are passed in)."""
