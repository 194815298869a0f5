// Command querygate is a self-hosted gateway that lets people query their
// databases and HTTP APIs from a browser or a script while it keeps nothing
// but sealed connection settings.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:], os.Getenv); err != nil {
		if err == errHelp {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "querygate:", err)
		os.Exit(2)
	}
	err := m.Run(ctx)
	if err == nil && m.Serving() {
		<-ctx.Done()
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "querygate:", describe(err))
		os.Exit(1)
	}
}
