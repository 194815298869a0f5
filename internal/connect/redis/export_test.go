package redis

// SetReplyCaps lowers the reply caps of c, for connections it dials from
// now on.
func SetReplyCaps(c *Connector, bytes, elems int64) { c.maxBytes, c.maxElems = bytes, elems }

// SetReplyDepth lowers the reply depth of c, for connections it dials from
// now on.
func SetReplyDepth(c *Connector, depth int) { c.maxDepth = depth }
