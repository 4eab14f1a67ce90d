// The test environment's cluster DNS: CoreDNS (the same coremain and plugins as the
// release binary) built with only the plugins its Corefile uses, which keeps the build
// small. testenv/build-binaries.sh builds it; testenv/coredns.py runs it.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The plugin chain, in CoreDNS's own order (core/dnsserver/zdirectives.go).
func init() {
	dnsserver.Directives = []string{"bind", "log", "errors", "health", "ready", "cache", "kubernetes"}
}

func main() { coremain.Run() }
