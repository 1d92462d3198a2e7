"""The secretary's pages under /app/ (the visit map and the dashboard)."""
