-- The revocation feed reads ended sessions by the time they changed.
CREATE INDEX sessions_updated ON sessions(updated_at);
