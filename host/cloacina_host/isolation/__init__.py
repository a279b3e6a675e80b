"""Tenant worker processes: each tenant's plugins run in a separate, supervised process.

:mod:`.sandbox` holds the OS primitives such a worker applies to itself at start, before it
loads any plugin.
"""
