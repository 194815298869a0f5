-- The identity-provider accounts (issuer and subject) that sign a user in
-- with single sign-on, so that an email address later given to someone
-- else at the provider does not open the first person's account.
CREATE TABLE user_identities (
	issuer     TEXT NOT NULL,
	subject    TEXT NOT NULL,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (issuer, subject),
	UNIQUE (issuer, user_id)
);
