package connect

// WithClose returns c, whose Close also runs after (once c is closed):
// the connector of a datasource reached through a Tunnel closes the
// tunnel with its pool.
func WithClose(c Connector, after func() error) Connector {
	return &closing{Connector: c, after: after}
}

type closing struct {
	Connector
	after func() error
}

func (c *closing) Close() error {
	err := c.Connector.Close()
	if aerr := c.after(); err == nil {
		err = aerr
	}
	return err
}
