"""Users, organisations, projects, roles and API tokens."""
