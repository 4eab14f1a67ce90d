// The test environment's cert-manager controller: cert-manager's own control loops (the
// packages of github.com/cert-manager/cert-manager, whose release binary's module
// cmd/controller the module proxy does not serve), wired by a small main of ours with only
// what a CA issuer needs: Issuers/ClusterIssuers, the Certificate loops (trigger, key
// manager, request manager, issuing, readiness, revision manager), the CertificateRequest
// approver and the CA signer. testenv/build-binaries.sh builds it; testenv/security.py runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
)

// The control loops this build runs, by their registered names (each package registers
// its constructor in init; the imports above bring in exactly these).
var enabled = []string{
	issuers.ControllerName,
	clusterissuers.ControllerName,
	trigger.ControllerName,
	keymanager.ControllerName,
	requestmanager.ControllerName,
	issuing.ControllerName,
	readiness.ControllerName,
	revisionmanager.ControllerName,
	approver.ControllerName,
	crca.CRControllerName,
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster to manage")
	namespace := flag.String("namespace", "", "namespace to manage (empty: all)")
	clusterResourceNamespace := flag.String("cluster-resource-namespace", "cert-manager", "namespace of the Secrets ClusterIssuers refer to")
	ownerRef := flag.Bool("enable-certificate-owner-ref", false, "make each Certificate the owner of its Secret")
	leaderElect := flag.Bool("leader-elect", false, "leader election (not supported by this build: must be false)")
	metricsAddress := flag.String("metrics-listen-address", "127.0.0.1:9402", "Prometheus metrics address")
	healthzAddress := flag.String("healthz-listen-address", "127.0.0.1:9403", "liveness address (/livez, /healthz)")
	minBackoff := flag.Duration("certificate-request-minimum-backoff-duration", time.Hour, "first wait before re-issuing after a failed request")
	maxBackoff := flag.Duration("certificate-request-maximum-backoff-duration", 32*time.Hour, "longest wait before re-issuing after failed requests")
	flag.Parse()
	if *leaderElect {
		fmt.Fprintln(os.Stderr, "cert-manager-controller: --leader-elect=true is not supported by this build")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, "controller")
	log := logf.FromContext(ctx)

	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		Kubeconfig:         *kubeconfig,
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		Namespace:          *namespace,
		IssuerOptions:      controllerpkg.IssuerOptions{ClusterResourceNamespace: *clusterResourceNamespace},
		CertificateOptions: controllerpkg.CertificateOptions{
			EnableOwnerRef:                           *ownerRef,
			CertificateRequestMinimumBackoffDuration: *minBackoff,
			CertificateRequestMaximumBackoffDuration: *maxBackoff,
		},
	})
	if err != nil {
		fail("building the controller context", err)
	}

	known := controllerpkg.Known()
	loops := map[string]controllerpkg.Interface{}
	for _, name := range enabled {
		if *namespace != "" && name == clusterissuers.ControllerName {
			continue // a namespaced controller has no cluster-scoped issuers
		}
		construct, ok := known[name]
		if !ok {
			fail("finding control loop "+name, fmt.Errorf("not registered"))
		}
		loop, err := construct(factory)
		if err != nil {
			fail("constructing control loop "+name, err)
		}
		loops[name] = loop
	}

	shared, err := factory.Build()
	if err != nil {
		fail("building the shared context", err)
	}
	serve(ctx, *metricsAddress, shared.Metrics.NewServer)
	serve(ctx, *healthzAddress, func(ln net.Listener) *http.Server {
		mux := http.NewServeMux()
		ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }
		mux.HandleFunc("/livez", ok)
		mux.HandleFunc("/healthz", ok)
		return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	})

	var wg sync.WaitGroup
	for name, loop := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Info("starting control loop", "controller", name)
			if err := loop.Run(5, ctx); err != nil {
				fail("running control loop "+name, err)
			}
		}()
	}
	// The loops registered their informers while being constructed: start them now.
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	wg.Wait()
	log.Info("control loops exited")
}

func serve(ctx context.Context, address string, server func(net.Listener) *http.Server) {
	ln, err := net.Listen("tcp", address)
	if err != nil {
		fail("listening on "+address, err)
	}
	srv := server(ln)
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			fail("serving "+address, err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "cert-manager-controller: %s: %v\n", what, err)
	os.Exit(1)
}
