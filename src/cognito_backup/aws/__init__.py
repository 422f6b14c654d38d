"""The only package that talks to AWS: sessions, error translation, quota pacing, Cognito I/O."""
