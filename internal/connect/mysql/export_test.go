package mysql

// ParseGrant exposes parseGrant to the tests.
var ParseGrant = parseGrant
