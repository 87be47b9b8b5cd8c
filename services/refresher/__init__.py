"""The refresher: an arq worker, the only writer of access and refresh tokens, plus the accounts CLI."""
