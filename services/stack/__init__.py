"""The local launcher behind `make run` and `make demo`: Redis, secrets, and the services as child processes.

It imports no other service: it starts them as `python -m services.<name>`.
"""
