"""The wire contract: marshmallow schemas shared by the server and the offline client.

This package imports neither ``server`` nor ``client_sync``.
"""
