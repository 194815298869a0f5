package audit

// HeadWrites returns how many times the head record was written.
func (l *Log) HeadWrites() int64 { return l.headWrites.Load() }
