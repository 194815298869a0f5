package postgres

// ResetTrips returns how many resets took a round trip of their own.
func ResetTrips() int64 { return resetTrips.Load() }
