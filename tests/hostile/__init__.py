"""Hostile inputs for the upload endpoints, built in code (see ``corpus``)."""
