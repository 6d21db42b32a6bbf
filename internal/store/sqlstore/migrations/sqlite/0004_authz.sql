-- Authorization beyond roles (Z11-Z13): direct grants, ACL tuples, policies.
CREATE TABLE user_permissions (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    permission TEXT NOT NULL REFERENCES permissions(name) ON DELETE CASCADE,
    PRIMARY KEY (user_id, permission)
);

CREATE TABLE relations (
    id            TEXT PRIMARY KEY,
    subject_type  TEXT NOT NULL,
    subject_id    TEXT NOT NULL,
    permission    TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (resource_type, resource_id, permission, subject_type, subject_id)
);
CREATE INDEX relations_subject ON relations(subject_type, subject_id);

CREATE TABLE policies (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    description   TEXT NOT NULL DEFAULT '',
    effect        TEXT NOT NULL CHECK (effect IN ('allow','deny')),
    actions       TEXT NOT NULL,
    resource_type TEXT NOT NULL DEFAULT '',
    condition     TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
