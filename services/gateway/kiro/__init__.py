"""Calling Kiro: HTTP client (sessions, proxies, retries, endpoint fallback), failure classification."""
