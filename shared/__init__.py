"""Kiro Stack's shared core: settings, Redis keys, codec, accounts, logging, metrics, errors.

`shared` never imports `services`.
"""

from shared.lazy_modules import defer

defer()
