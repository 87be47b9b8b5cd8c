"""The Kiro Stack services. Each one is a package started as `python -m services.<name>`."""

from shared.lazy_modules import defer

defer()
