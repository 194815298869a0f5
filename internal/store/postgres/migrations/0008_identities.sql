-- The identity-provider accounts (issuer and subject) that sign a user in
-- with single sign-on, so that an email address later given to someone
-- else at the provider does not open the first person's account.
CREATE TABLE user_identities (
	issuer     TEXT COLLATE "C" NOT NULL,
	subject    TEXT COLLATE "C" NOT NULL,
	user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (issuer, subject),
	UNIQUE (issuer, user_id)
);
