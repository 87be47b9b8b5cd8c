"""A fake of the Kiro endpoints (chat, models, usage, social and OIDC auth) for tests, demo and benchmarks."""
