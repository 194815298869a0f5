package sqlite

// ChangeReads returns how many times db's change sequence was read by a
// query.
func ChangeReads(db *DB) int64 { return db.changes.Reads() }

// WALIndexOpen reports whether db reads the WAL index header.
func WALIndexOpen(db *DB) bool { return db.wal != nil }
