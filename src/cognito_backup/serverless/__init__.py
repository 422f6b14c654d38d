"""AWS Lambda entry points: thin handlers over the library (docs/deploy.md).

Import-light on purpose: a handler module imports boto3 and the library only when first invoked, so
a cold start pays for what that handler needs and nothing else.
"""
